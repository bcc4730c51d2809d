from rest_framework.permissions import BasePermission


class IsStaff(BasePermission):
    message = "only staff may do this"

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)
