"""The seed tutorial's pattern as a tiny Django project, for the bench (not part of project/).

What most tutorials teach, the first seed article included: a sync WebsocketConsumer, a sync view
calling async_to_sync(channel_layer.group_send), RedisChannelLayer. No auth, no presence, no
request/reply. An async consumer sits beside it so the notebook can compare the two.
"""
