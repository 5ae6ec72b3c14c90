"""Contact and its labels moved to `wixcache`, sync runs and webhook events to `sync`, in state
only. `contacts.Contact` stays as a proxy, so its admin pages, permissions and history keep
their content type."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('sync', '0001_initial'),
        ('contacts', '0003_segment_version'),
        ('wixcache', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(
                    model_name='contact',
                    name='contact_created_idx',
                ),
                migrations.RemoveIndex(
                    model_name='contactlabel',
                    name='contactlabel_label_contact',
                ),
                migrations.RemoveConstraint(
                    model_name='contactlabel',
                    name='contactlabel_contact_label',
                ),
                migrations.RemoveConstraint(
                    model_name='syncrun',
                    name='syncrun_one_running',
                ),
                migrations.RemoveIndex(
                    model_name='webhookevent',
                    name='webhookevent_entity_idx',
                ),
                migrations.DeleteModel(
                    name='WebhookEvent',
                ),
                migrations.RemoveField(
                    model_name='contactlabel',
                    name='contact',
                ),
                migrations.RemoveField(
                    model_name='contactlabel',
                    name='label',
                ),
                migrations.RemoveField(
                    model_name='syncrun',
                    name='requested_by',
                ),
                migrations.RemoveField(
                    model_name='syncrun',
                    name='resumed_from',
                ),
                migrations.DeleteModel(
                    name='Contact',
                ),
                migrations.DeleteModel(
                    name='ContactLabel',
                ),
                migrations.DeleteModel(
                    name='SyncRun',
                ),
                migrations.CreateModel(
                    name='Contact',
                    fields=[
                    ],
                    options={
                        'permissions': [('label_contacts', 'Can apply and remove labels on contacts'), ('export_contacts', 'Can export contacts as CSV')],
                        'proxy': True,
                        'default_permissions': ('add', 'change', 'delete', 'view'),
                        'indexes': [],
                        'constraints': [],
                    },
                    bases=('wixcache.contact',),
                ),
            ],
            database_operations=[],
        ),
    ]
