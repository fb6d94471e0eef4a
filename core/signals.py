"""Signals sent by the engine. Receivers run after the writing transaction has committed."""

from django.dispatch import Signal

# Sent once per merged event with `payload` (dict) and `impacted_objects` (list of
# {"new": …, "old": …}); see core.events and spec/09.
resource_changed = Signal()

# Sent (without arguments) once `POST /__flush__` has erased every stored object, ACL and the
# cache; receivers drop whatever they keep about the data (queues, subscriptions…).
server_flushed = Signal()
