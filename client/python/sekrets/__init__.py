"""sekrets: the Python client of sekretsd, the successor of pyswark.sekrets.

    from sekrets import api
    api.get('woody', 'TEST')          # -> {'sekret': ..., 'description': ...}

``sekrets.Client`` speaks the wire protocol (proto/PROTOCOL.md) directly; every error is
a ``sekrets.SekretsError`` carrying the wire ``code``.
"""

from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all
from .client import (Client, default_socket, encode_request, decode_response,  # noqa: F401
                     DEFAULT_TIMEOUT, DEFAULT_MAX_FRAME)
from . import api  # noqa: F401

__version__ = "0.1.0"

__all__ = ["api", "Client", "default_socket", "encode_request", "decode_response",
           "DEFAULT_TIMEOUT", "DEFAULT_MAX_FRAME", "__version__"] + list(_errors_all)
