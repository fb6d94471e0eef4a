"""Signals sent by the engine. Unless said otherwise, receivers run after the writing
transaction has committed."""

from django.dispatch import Signal

# Sent once per merged event with `payload` (dict) and `impacted_objects` (list of
# {"new": …, "old": …}); see core.events and spec/09.
resource_changed = Signal()

# Sent inside the writing transaction by every action, once per write, before it returns:
# `sender` (the model), `ctx` (the ActionContext), `action` (create/update/delete), `parent`
# (None for top-level types), `objects` (the written instances, their ACLs on `known_acls`
# when the action knows them) and `impacted` (their {"new": …, "old": …} versions, in the same
# order). What receivers write is committed or rolled back with the change itself (a failed
# batch sub-request leaves nothing behind); an exception fails the request (spec/09). Used by
# the history, which must not miss a committed change nor record a rolled-back one.
resource_written = Signal()

# Sent inside the writing transaction, with `ctx` (the ActionContext) and `principals`, when
# principals stop existing (deleted accounts, deleted or renamed site users): receivers drop them from the data they keep
# (group members), so that a later principal with the same name inherits nothing.
principals_removed = Signal()

# Sent (without arguments) once `POST /__flush__` has erased every stored object, ACL and the
# cache; receivers drop whatever they keep about the data (queues, subscriptions…).
server_flushed = Signal()

# Sent inside the writing transaction by the actions, with `queryset`, just before objects of
# type `sender` lose their data for good: the object a request deletes (it becomes a
# tombstone) and everything below it that is purged with it (a collection's records…). The
# queryset still selects the rows. Not sent by the flush nor by a restore. Used by the
# attachments, whose files go with their records.
resources_purged = Signal()
