"""The system libraries SDL's KMSDRM backend loads at run time, and which of them are missing.

The aarch64 pygame-ce wheel bundles SDL but not these: on a Pi they come from Debian packages
(install.sh installs them). When the console display cannot open, naming a missing library is
far more useful than a hint about desktops and groups.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

__all__ = ["KMSDRM_LIBRARIES", "missing_kmsdrm_libraries", "missing_libraries_hint"]

# soname → Debian package
KMSDRM_LIBRARIES: dict[str, str] = {
    "libdrm.so.2": "libdrm2",
    "libgbm.so.1": "libgbm1",
    "libEGL.so.1": "libegl1",
    "libGLESv2.so.2": "libgles2",
}


def missing_kmsdrm_libraries(load: Callable[[str], object] = ctypes.CDLL) -> list[str]:
    """The sonames of :data:`KMSDRM_LIBRARIES` that cannot be loaded here."""
    missing = []
    for soname in KMSDRM_LIBRARIES:
        try:
            load(soname)
        except OSError:
            missing.append(soname)
    return missing


def missing_libraries_hint(load: Callable[[str], object] = ctypes.CDLL) -> str | None:
    """One clause naming the missing libraries and the command that installs them, or None."""
    missing = missing_kmsdrm_libraries(load)
    if not missing:
        return None
    packages = " ".join(KMSDRM_LIBRARIES[soname] for soname in missing)
    return f"missing {', '.join(missing)}: sudo apt-get install {packages}"
