"""The cache's models, moved here from `labels` and `contacts` in state only: the tables keep
their names (`labels_label`, `contacts_contact`, `contacts_contactlabel`), indexes, constraints,
triggers and rows."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contacts', '0003_segment_version'),
        ('labels', '0003_label_key_length'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Contact',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('wix_id', models.CharField(editable=False, max_length=64, unique=True)),
                        ('revision', models.PositiveIntegerField(default=0)),
                        ('first_name', models.CharField(blank=True, max_length=255)),
                        ('last_name', models.CharField(blank=True, max_length=255)),
                        ('email', models.CharField(blank=True, max_length=320)),
                        ('phone', models.CharField(blank=True, max_length=64)),
                        ('remote_created_at', models.DateTimeField()),
                        ('remote_updated_at', models.DateTimeField()),
                    ],
                    options={
                        'db_table': 'contacts_contact',
                        'ordering': ['remote_created_at', 'wix_id'],
                        'default_permissions': (),
                    },
                ),
                migrations.CreateModel(
                    name='Label',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('key', models.CharField(editable=False, max_length=255, unique=True)),
                        ('display_name', models.CharField(max_length=180)),
                        ('label_type', models.CharField(choices=[('SYSTEM', 'System'), ('USER_DEFINED', 'User'), ('WIX_APP_DEFINED', 'App'), ('UNKNOWN', 'Unknown')], default='USER_DEFINED', max_length=16)),
                        ('namespace', models.CharField(max_length=25)),
                        ('namespace_display_name', models.CharField(blank=True, max_length=180)),
                        ('remote_created_at', models.DateTimeField(blank=True, null=True)),
                        ('remote_updated_at', models.DateTimeField(blank=True, null=True)),
                        ('synced_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'db_table': 'labels_label',
                        'ordering': ['display_name', 'key'],
                        'default_permissions': (),
                        'indexes': [models.Index(fields=['display_name'], name='label_display_name_idx')],
                    },
                ),
                migrations.CreateModel(
                    name='ContactLabel',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('contact', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, to='wixcache.contact')),
                        ('label', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, to='wixcache.label')),
                    ],
                    options={
                        'db_table': 'contacts_contactlabel',
                        'default_permissions': (),
                    },
                ),
                migrations.AddField(
                    model_name='contact',
                    name='labels',
                    field=models.ManyToManyField(related_name='contacts', through='wixcache.ContactLabel', to='wixcache.label'),
                ),
                migrations.AddIndex(
                    model_name='contactlabel',
                    index=models.Index(fields=['label', 'contact'], name='contactlabel_label_contact'),
                ),
                migrations.AddConstraint(
                    model_name='contactlabel',
                    constraint=models.UniqueConstraint(fields=('contact', 'label'), name='contactlabel_contact_label'),
                ),
                migrations.AddIndex(
                    model_name='contact',
                    index=models.Index(fields=['remote_created_at', 'wix_id'], name='contact_created_idx'),
                ),
            ],
            database_operations=[],
        ),
    ]
