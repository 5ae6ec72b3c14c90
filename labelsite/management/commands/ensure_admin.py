import json
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the demo's superuser with a generated password, printed once, if none exists."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--url", default="http://127.0.0.1:8000/admin/")
        parser.add_argument(
            "--json",
            dest="as_json",
            action="store_true",
            help='Print {"url", "username", "password"} (password null if the user existed), '
            "for the demo to show in its start-up box.",
        )

    def handle(self, *, username: str, url: str, as_json: bool = False, **options):
        User = get_user_model()
        password = None
        if not User.objects.filter(username=username).exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(username=username, email="", password=password)
        if as_json:
            self.stdout.write(json.dumps({"url": url, "username": username, "password": password}))
        elif password is None:
            self.stdout.write(
                f"Log in at {url} as '{username}' with the password printed when it was made "
                f"(forgot it? run: .venv/bin/python manage.py changepassword {username})."
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Created the admin user. Log in at {url}\n"
                    f"    username: {username}\n    password: {password}\n"
                    "This password is shown only now."
                )
            )
