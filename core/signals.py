"""Signals sent by the engine. Unless said otherwise, receivers run after the writing
transaction has committed."""

from django.dispatch import Signal

# Sent once per merged event with `payload` (dict) and `impacted_objects` (list of
# {"new": …, "old": …}); see core.events and spec/09.
resource_changed = Signal()

# Sent inside the writing transaction, with `ctx` (the ActionContext) and `principals`, when
# principals stop existing (deleted accounts): receivers drop them from the data they keep
# (group members), so that a later principal with the same name inherits nothing.
principals_removed = Signal()

# Sent (without arguments) once `POST /__flush__` has erased every stored object, ACL and the
# cache; receivers drop whatever they keep about the data (queues, subscriptions…).
server_flushed = Signal()
