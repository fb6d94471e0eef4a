"""The site's own WebSocket endpoint, served by the same ASGI application as the storage
API's live endpoint (hostsite/asgi.py)."""

from channels.generic.websocket import AsyncWebsocketConsumer


class EchoConsumer(AsyncWebsocketConsumer):
    """`/ws/echo`: sends back each text message it receives."""

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data=f"echo: {text_data}")
