"""The chat as a classroom serves it: the learner's ChatConsumer, with each student's name and a rate limit.

A socket belongs to a student who joined (their session names them and their phone device still
exists) or to a staff user (the instructor); anyone else is refused (403: join first). Each message goes
out as "<name>: <text>" with "name" beside it (the room page shows "name: text"), whatever name the
page typed: a student cannot speak as another. Removing a student (views.remove_student) sends
classroom.removed to their group, and every chat socket of theirs closes with 4401.
"""

import json

from channels.db import database_sync_to_async

from chat.consumers import ChatConsumer
from chat.frames import parse_chat_frame
from devices.models import Device
from kit.classroom import ratelimit
from mysite.close_codes import REVOKED_CLOSE_CODE

SESSION_KEY = "classroom_student"  # {"name": ..., "device": ...}, written by views.join


def student_group(key):
    return f"classroom_{key}"  # a device id or staff-<pk>: a valid group name


@database_sync_to_async
def session_student(session):
    return session.get(SESSION_KEY) if session is not None else None


async def identify(scope):
    """(name, key) for a joined student whose device still exists, or the staff user; else None."""
    student = await session_student(scope.get("session"))
    if isinstance(student, dict) and await Device.objects.filter(device_id=student.get("device", "")).aexists():
        return student["name"], student["device"]
    user = scope.get("user")
    if user is not None and user.is_authenticated and user.is_staff:
        return user.get_username(), f"staff-{user.pk}"
    return None


class ClassroomChatConsumer(ChatConsumer):
    name = key = None

    async def connect(self):
        """Refused (403) unless a joined student or the instructor; then the learner's connect."""
        identity = await identify(self.scope)
        if identity is None:
            await self.close()
            return
        self.name, self.key = identity
        await self.channel_layer.group_add(student_group(self.key), self.channel_name)
        await super().connect()

    async def disconnect(self, code):
        if self.key is None:  # refused: never joined a group
            return
        await self.channel_layer.group_discard(student_group(self.key), self.channel_name)
        await super().disconnect(code)

    async def receive(self, text_data=None, bytes_data=None):
        """A student's message: rate limited, checked as the learner's consumer does, sent with the name."""
        limit = ratelimit.for_students()
        if not limit.allow(("chat", self.key)):
            await self.send(text_data=json.dumps({"error": f"too many messages: {limit.describe()}; wait a moment"}))
            return
        message, error = parse_chat_frame(text_data)
        if error:
            await self.send(text_data=json.dumps({"error": error}))
            return
        text = message if message.startswith(f"{self.name}: ") else f"{self.name}: {message}"
        await self.channel_layer.group_send(self.group, {"type": "chat.message", "message": text, "name": self.name})

    async def chat_message(self, event):
        """The learner's frame, plus the sender's name when a student or the instructor sent it."""
        frame = {"message": str(event.get("message", ""))}
        if event.get("system"):
            frame["system"] = True
        if isinstance(event.get("name"), str):
            frame["name"] = event["name"]
        await self.send(text_data=json.dumps(frame))

    async def classroom_removed(self, event):
        """Handles classroom.removed: the instructor removed this student."""
        await self.close(code=REVOKED_CLOSE_CODE)
