"""Build hook: compiles the router's pure core with mypyc.

Everything else about the distribution is in pyproject.toml. The modules listed in
``routing.compiled.COMPILED_MODULES`` are plain typed Python; here they are also
compiled to C (mypyc, the compiler mypy itself is built with), which runs the same
code a few times faster. Next to the compiled modules the build records a digest of
the sources it compiled, so an edited source runs as source until rebuilt. Set
``CC_PURE_PYTHON=1`` to install without compiling; a machine without a C compiler also
falls back to the sources (the extensions are optional).
"""

import json
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

# pip runs this in an isolated environment: the project's own modules come from here.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from routing.compiled import COMPILED_MODULES, MANIFEST, source_digests


class BuildWithManifest(build_ext):
    def run(self) -> None:
        super().run()
        if self.extensions and all(
            os.path.exists(self.get_ext_fullpath(ext.name)) for ext in self.extensions
        ):
            target = Path("." if self.inplace else self.build_lib) / "routing" / MANIFEST
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(source_digests(Path("routing")), indent=1) + "\n")


ext_modules = []
if os.environ.get("CC_PURE_PYTHON") != "1":
    from mypyc.build import mypycify

    ext_modules = mypycify(
        [
            # The build runs without the project's dependencies or its mypy plugins:
            # type-check the core on its own, with its imports taken as given.
            "--config-file=",
            "--ignore-missing-imports",
            "--follow-imports=silent",
            *(name.replace(".", "/") + ".py" for name in COMPILED_MODULES),
        ],
        opt_level="3",
        debug_level="0",
        group_name="routing_core",
    )
    for extension in ext_modules:
        extension.optional = True

setup(ext_modules=ext_modules, cmdclass={"build_ext": BuildWithManifest})
