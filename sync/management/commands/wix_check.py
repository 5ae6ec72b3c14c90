from django.core.management.base import BaseCommand, CommandError

from labelsite.wix import WixConfigurationError
from sync.wix_check import wix_check
from wixcache.budget import site_client


class Command(BaseCommand):
    help = (
        "Ask the Wix site what Wix's documentation leaves open, and say what labelsite does "
        "about each. Read-only unless --write."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--write",
            action="store_true",
            help="also label, unlabel and bulk-label a throwaway contact with a throwaway label, "
            "both removed again at the end",
        )

    def handle(self, *, write: bool, **options):
        try:
            client = site_client(interactive=True)
        except WixConfigurationError as error:
            raise CommandError(str(error)) from None
        with client:
            findings = wix_check(client=client, write=write, say=self.stdout.write)
        for finding in findings:
            style = self.style.SUCCESS if finding.ok else self.style.WARNING
            self.stdout.write(style(f"{'OK' if finding.ok else '!!'}  {finding.question}"))
            self.stdout.write(f"    Wix: {finding.found}")
            self.stdout.write(f"    labelsite: {finding.labelsite_does}")
        if not any(f.question.startswith("How does Unlabel") for f in findings):
            self.stdout.write("Run with --write to check label changes and bulk jobs too.")
        if not all(f.ok for f in findings):
            raise CommandError("Some of labelsite's choices do not hold on this site: see above.")
