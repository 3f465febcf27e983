"""test_package.py — the Python package as a user installs it: pip into a
venv made with --system-site-packages (and into a prefix with the system
pip, as `pip install --break-system-packages` would), mypy over the typed
public API (py.typed), and the message `import xai` gives when pyzmq or
msgpack is missing.

The venv test installs with --no-index --no-build-isolation, so it needs no
network: setuptools, pyzmq, msgpack and numpy come from Debian's packages.
The installed copy is then imported from outside the source tree and asks a
real xaid (no models) for ping and the method registry.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.dirname(HERE)
ROOT = os.environ.get("XAI_ROOT") or os.path.dirname(os.path.dirname(PKG))
BUILD = os.path.join(ROOT, os.environ.get("XAI_BUILD", "build"))
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, **kw)


class Package(unittest.TestCase):
    def test_mypy_passes_on_the_package(self):
        r = run([PYTHON, "-m", "mypy", "--config-file", os.path.join(PKG, "pyproject.toml"),
                 os.path.join(PKG, "xai")], cwd=PKG)
        if "No module named mypy" in r.stderr:
            self.skipTest("mypy is not installed (Debian: python3-mypy)")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Success", r.stdout)

    def test_public_functions_are_annotated(self):
        import inspect
        import xai
        for name in ("serve", "serve_in_thread", "encode_matrix", "decode_matrix",
                     "decode_result"):
            sig = inspect.signature(getattr(xai, name))
            self.assertIsNot(sig.return_annotation, inspect.Signature.empty, name)
        for name, fn in inspect.getmembers(xai.Client, inspect.isfunction):
            if not name.startswith("_"):
                self.assertIn("return", fn.__annotations__, "Client.%s" % name)
        self.assertTrue(os.path.exists(os.path.join(PKG, "xai", "py.typed")))

    def test_import_without_msgpack_or_zmq_names_the_debian_packages(self):
        for missing in ("msgpack", "zmq"):
            code = "import sys; sys.modules[%r] = None; import xai" % missing
            r = run([PYTHON, "-c", code], env=dict(os.environ, PYTHONPATH=PKG))
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("python3-zmq", r.stderr)
            self.assertIn("python3-msgpack", r.stderr)
            self.assertIn("missing: %s" % missing, r.stderr)

    def test_system_pip_installs_into_a_prefix(self):
        tmp = tempfile.mkdtemp(prefix="xai-pip-")
        try:
            src = os.path.join(tmp, "src")
            shutil.copytree(PKG, src, ignore=shutil.ignore_patterns("tests", "build", "*.egg-info",
                                                                     "__pycache__"))
            r = run([PYTHON, "-m", "pip", "install", "--break-system-packages", "--no-index",
                     "--no-build-isolation", "--no-deps", "--prefix", os.path.join(tmp, "p"), src])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            found = [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(tmp, "p"))
                     for f in fs if f == "py.typed"]
            self.assertEqual(len(found), 1, found)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_venv_install_then_a_call_to_a_real_daemon(self):
        xaid = next((p for p in (os.path.join(BUILD, "san", "xaid"), os.path.join(BUILD, "rel", "xaid"))
                     if os.access(p, os.X_OK)), None)
        if xaid is None:
            self.skipTest("xaid is not built")
        tmp = tempfile.mkdtemp(prefix="xai-venv-")
        daemon = None
        try:
            src = os.path.join(tmp, "src")
            shutil.copytree(PKG, src, ignore=shutil.ignore_patterns("tests", "build", "*.egg-info",
                                                                     "__pycache__"))
            venv = os.path.join(tmp, "venv")
            r = run([PYTHON, "-m", "venv", "--system-site-packages", venv])
            self.assertEqual(r.returncode, 0, r.stderr)
            r = run([os.path.join(venv, "bin", "pip"), "install", "--no-index",
                     "--no-build-isolation", src])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            ep = "ipc://%s/xaid.sock" % tmp
            log = open(os.path.join(tmp, "xaid.log"), "wb")
            daemon = subprocess.Popen([xaid, "--bind", ep], stdout=log, stderr=log)
            code = ("import os, sys, xai; assert 'site-packages' in xai.__file__, xai.__file__; "
                    "c = xai.Client(sys.argv[1]); p = c.ping(); assert p['pong'], p; "
                    "m = {x['name']: x for x in c.methods()}; "
                    "print(xai.__file__, len(m), [q['name'] for q in m['lime']['params']][:3])")
            r = run([os.path.join(venv, "bin", "python"), "-c", code, ep], cwd=tmp,
                    env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn(os.path.join(venv, "lib"), r.stdout)
            self.assertIn("['seed', 'target', 'num_samples']", r.stdout)
        finally:
            if daemon is not None:
                daemon.terminate()
                daemon.wait(10)
                log.close()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
