"""The sync's models, moved here from `contacts` in state only: the tables keep their names
(`contacts_syncrun`, `contacts_webhookevent`) and their rows."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def move_content_types(apps, schema_editor):
    """Carry the content types (and so the permissions people have, such as `run_sync`, and
    the admin history) from `contacts` to `sync`. On a new database there is nothing yet."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in ("syncrun", "webhookevent"):
        if not ContentType.objects.filter(app_label="sync", model=model).exists():
            ContentType.objects.filter(app_label="contacts", model=model).update(app_label="sync")


def move_content_types_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in ("syncrun", "webhookevent"):
        if not ContentType.objects.filter(app_label="contacts", model=model).exists():
            ContentType.objects.filter(app_label="sync", model=model).update(app_label="contacts")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contacts', '0003_segment_version'),
        ('contenttypes', '0002_remove_content_type_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='WebhookEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('event_id', models.CharField(max_length=100, unique=True)),
                        ('event_type', models.CharField(max_length=100)),
                        ('entity_id', models.CharField(max_length=100)),
                        ('event_time', models.DateTimeField(blank=True, null=True)),
                        ('received_at', models.DateTimeField(auto_now_add=True)),
                        ('outcome', models.CharField(blank=True, max_length=200)),
                    ],
                    options={
                        'db_table': 'contacts_webhookevent',
                        'ordering': ['-received_at', '-id'],
                        'indexes': [models.Index(fields=['entity_id', 'event_time'], name='webhookevent_entity_idx')],
                    },
                ),
                migrations.CreateModel(
                    name='SyncRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('full', 'Full'), ('incremental', 'Incremental'), ('labels', 'Labels only')], max_length=12)),
                        ('status', models.CharField(choices=[('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('interrupted', 'Interrupted')], default='running', max_length=12)),
                        ('started_at', models.DateTimeField(auto_now_add=True)),
                        ('heartbeat_at', models.DateTimeField(auto_now_add=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('watermark', models.DateTimeField(blank=True, null=True)),
                        ('pages', models.PositiveIntegerField(default=0)),
                        ('requests', models.PositiveIntegerField(default=0)),
                        ('labels_created', models.PositiveIntegerField(default=0)),
                        ('labels_updated', models.PositiveIntegerField(default=0)),
                        ('labels_deleted', models.PositiveIntegerField(default=0)),
                        ('contacts_created', models.PositiveIntegerField(default=0)),
                        ('contacts_updated', models.PositiveIntegerField(default=0)),
                        ('contacts_deleted', models.PositiveIntegerField(default=0)),
                        ('contacts_seen', models.PositiveIntegerField(default=0)),
                        ('contacts_total', models.PositiveIntegerField(blank=True, null=True)),
                        ('checkpoint', models.JSONField(blank=True, default=dict)),
                        ('error', models.TextField(blank=True)),
                        ('requested_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                        ('resumed_from', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to='sync.syncrun')),
                    ],
                    options={
                        'db_table': 'contacts_syncrun',
                        'ordering': ['-started_at', '-id'],
                        'permissions': [('run_sync', 'Can start a sync with Wix')],
                        'get_latest_by': 'started_at',
                        'constraints': [models.UniqueConstraint(condition=models.Q(('status', 'running')), fields=('status',), name='syncrun_one_running', violation_error_message='Another sync is already running.')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
