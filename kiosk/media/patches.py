"""The process-wide changes this project makes to aioice/aiortc, applied in one place.

Three seams patch library modules for the whole process:

* :func:`kiosk.media.ice.install` — where ICE gathers (loopback only in tests, benches and the
  dev server's ``--loopback`` mode) and no default STUN server;
* :func:`kiosk.media.jitter.install` — video frames released on the RTP marker bit;
* :func:`kiosk.media.decode_backlog.install` — a bound on the encoded frames waiting for each
  receiver's decoder thread.

:func:`install` applies all three. Only the entry points call it, once at start before the first
peer connection exists: ``kiosk run``, ``kiosk demo``, ``kiosk bot`` and ``kiosk devserver``.
Library code never installs anything; a peer connection whose settings restrict ICE checks that
the seam matches (:func:`kiosk.media.ice.require_installed`). Tests use the ``loopback_ice``
fixture of :mod:`kiosk.testing.fixtures`, which installs and afterwards restores what was there
(:func:`current` / :func:`restore`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kiosk.media import decode_backlog, ice, jitter

__all__ = ["Patches", "current", "install", "installed", "restore"]


@dataclass(frozen=True)
class Patches:
    """What is installed process-wide right now."""

    ice: ice.IceSettings
    marker_jitter: bool
    bounded_decoding: bool = True


def current() -> Patches:
    return Patches(
        ice=ice.current(),
        marker_jitter=jitter.installed(),
        bounded_decoding=decode_backlog.installed(),
    )


def install(
    settings: ice.IceSettings, *, marker_jitter: bool = True, bounded_decoding: bool = True
) -> None:
    """Apply the ICE seam with ``settings`` and (by default) the marker-bit jitter buffer and
    the bounded decode backlog.

    ``marker_jitter=False`` / ``bounded_decoding=False`` leave aiortc's own jitter buffer /
    decoder queue in place (benches compare both).
    """
    ice.install(settings)
    if marker_jitter:
        jitter.install()
    else:
        jitter.uninstall()
    if bounded_decoding:
        decode_backlog.install()
    else:
        decode_backlog.uninstall()


def restore(previous: Patches) -> None:
    """Put back what :func:`current` returned earlier."""
    install(
        previous.ice,
        marker_jitter=previous.marker_jitter,
        bounded_decoding=previous.bounded_decoding,
    )


@contextmanager
def installed(
    settings: ice.IceSettings, *, marker_jitter: bool = True, bounded_decoding: bool = True
) -> Iterator[Patches]:
    """:func:`install` for the duration of a ``with`` block, then :func:`restore`."""
    previous = current()
    install(settings, marker_jitter=marker_jitter, bounded_decoding=bounded_decoding)
    try:
        yield current()
    finally:
        restore(previous)
