"""Media worker processes: subscriber peer connections off the main process (issue 14).

``media.workers: auto | 0 | N``. With N > 0 every remote stream's RTCPeerConnection (ICE,
DTLS/SRTP, RTP, jitter buffer, decoding) runs in one of N worker processes; all JSON-RPC with
OpenVidu stays in the main process. Decoded video comes back through shared-memory latest-value
slots (:mod:`.slots`), audio as PCM over the worker's socket (:mod:`.messages`).

* :mod:`.slots`    — shared-memory latest-value video slot (seqlock; main creates and unlinks);
* :mod:`.messages` — main ⇄ worker messages, framed and bounded (pure);
* :mod:`.assign`   — how many workers, which worker gets a subscription, restart delays (pure);
* :mod:`.worker`   — the worker process (``python -m kiosk.media.workers.worker FD``);
* :mod:`.pool`     — main side: start, supervise, restart, stop the workers;
* :mod:`.remote`   — main side: a subscriber whose peer connection lives in a worker.
"""
