"""The dev server's JSON-RPC side (§3–§5).

:mod:`.hub` (the endpoint and dispatch) → :mod:`.media` (media methods) → :mod:`.room` (join,
leave, evict, signals) → :mod:`.sockets` (ping watchdog, ``connect``, grace) → :mod:`.params`
(typed parameter reading, :class:`RpcFail`).
"""

from kiosk.devserver.rpc.hub import RpcHub
from kiosk.devserver.rpc.params import RpcFail
from kiosk.devserver.rpc.sockets import PING_TIMEOUT_REASON

__all__ = ["PING_TIMEOUT_REASON", "RpcFail", "RpcHub"]
