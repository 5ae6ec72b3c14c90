"""The label index's state counts the prunes that deleted log rows (`prunes`).

On PostgreSQL a reader rebuilt whenever the highest pruned transaction id was at or above its
horizon (the `xmin` of its last read). A transaction held open anywhere in the cluster (a backup,
another database's long job) holds every snapshot's `xmin` back, so after one prune every read
rebuilt all the bitmaps until that transaction ended. A reader now notes the count in the
snapshot it last checked or built in, and looks at the pruned ids only when a prune came since.
"""

from django.db import migrations

FORWARD = "ALTER TABLE wixcache_index_state ADD COLUMN prunes bigint NOT NULL DEFAULT 0"
BACKWARD = "ALTER TABLE wixcache_index_state DROP COLUMN prunes"


class Migration(migrations.Migration):
    dependencies = [("wixcache", "0009_label_week")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
