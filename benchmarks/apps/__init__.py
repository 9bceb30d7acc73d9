"""
The servers under test, one small module each, all speaking the same three events.

Every server answers the same client frames, so one load generator drives them all:

``echo``
    replies (as an ack) with the payload it got;
``join``
    puts the socket in the group named by ``group``, then acks;
``broadcast``
    sends ``msg`` with the frame's ``seq`` and ``text`` to every socket in ``group``, then acks.

The easy_channels and raw Channels servers (``easy_asgi``, ``channels_asgi``) share the Django
settings in ``settings``; python-socketio (``socketio_app``) and the bare ``websockets``
server (``websockets_server``) have none. The channel layer (or Socket.IO client manager) comes
from the environment, see ``settings``.
"""
