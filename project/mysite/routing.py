"""All WebSocket routes: each app's list, one after the other (the dashboard's is in devices/dashboard.py)."""

from chat.routing import websocket_urlpatterns as chat_routes
from devices.dashboard import websocket_urlpatterns as dashboard_routes
from devices.routing import websocket_urlpatterns as devices_routes
from echo.routing import websocket_urlpatterns as echo_routes

websocket_urlpatterns = echo_routes + chat_routes + devices_routes + dashboard_routes
