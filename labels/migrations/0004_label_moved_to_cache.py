"""Label moved to `wixcache` in state only. `labels.Label` stays as a proxy, so its admin pages,
permissions and history keep their content type."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('contacts', '0004_cache_and_sync_moved_out'),
        ('labels', '0003_label_key_length'),
        ('wixcache', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(
                    model_name='label',
                    name='label_display_name_idx',
                ),
                migrations.DeleteModel(
                    name='Label',
                ),
                migrations.CreateModel(
                    name='Label',
                    fields=[
                    ],
                    options={
                        'proxy': True,
                        'default_permissions': ('add', 'change', 'delete', 'view'),
                        'indexes': [],
                        'constraints': [],
                    },
                    bases=('wixcache.label',),
                ),
            ],
            database_operations=[],
        ),
    ]
