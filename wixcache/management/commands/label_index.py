"""Build the label index from the membership table and check it against this process's copy."""

import time

from django.core.management.base import BaseCommand, CommandError

from wixcache.index import LabelIndex, index_check, index_prune


class Command(BaseCommand):
    help = (
        "Build the label index (every label's contacts, as bitmaps) from the membership table "
        "and say how long it took and how big it is. With --check, also keep a copy up to date "
        "from the change log and compare the two: they must agree. With --prune, delete the "
        "changes logged more than 15 minutes ago (the worker does this by itself)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="compare with the change log")
        parser.add_argument("--prune", action="store_true", help="prune the change log")

    def handle(self, *args, check: bool, prune: bool, **options):
        if prune:
            self.stdout.write(f"Pruned {index_prune():,} changes from the change log.")
        started = time.perf_counter()
        index = LabelIndex("default")
        index.rebuild()
        seconds = time.perf_counter() - started
        self.stdout.write(
            f"Built the index of {len(index.everyone):,} contacts and {len(index.labels):,} "
            f"labels in {seconds:.2f} s ({index.nbytes() / 1e6:.1f} MB of bitmaps)."
        )
        if check:
            problems = index_check()
            if problems:
                differ = " ".join(problems)
                raise CommandError(f"The index and the membership table differ: {differ}")
            self.stdout.write("The index kept from the change log agrees with the table.")
