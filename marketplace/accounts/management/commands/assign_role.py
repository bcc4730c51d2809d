"""`./dev manage assign_role alice seller`: give an account a role (there is no self-service sign-up)."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from marketplace.accounts.roles import ROLES, role_assign, role_remove


class Command(BaseCommand):
    help = "Give a user the seller or buyer role (or take it away with --remove)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("role", choices=ROLES)
        parser.add_argument("--remove", action="store_true")

    def handle(self, username, role, remove, **_):
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user named {username!r}") from None
        (role_remove if remove else role_assign)(user, role)
        self.stdout.write(f"{username}: {'removed' if remove else 'now has'} role {role}")
