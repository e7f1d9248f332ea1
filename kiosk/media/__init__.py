"""Client-side media: local sources, publisher/subscriber PeerConnections, sinks and mixer.

* ``testpattern`` / ``tone`` — synthetic camera and microphone (the pattern carries a
  machine-readable timestamp for glass-to-glass latency).
* ``devices`` — camera / microphone / speaker specs → tracks and outputs.
* ``peer`` — ``RpcCaller`` and the PeerConnection basics shared below.
* ``publisher`` / ``subscriber`` — one PC per stream direction (protocol §4.3, §4.4, §8).
* ``sinks`` — ``LatestFrame`` (a ``FrameSource``) and ``AudioMixer``.
* ``session_media`` — ``MediaSession``: all PCs of one joined session, driven by events.
* ``ice`` — the ICE loopback seam.
"""
