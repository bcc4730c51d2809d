"""API views: thin. Each validates input, calls one service or selector, and serializes the answer.

Ownership is enforced by the querysets: another user's listing, photo, job or search is simply not found (404),
so its existence does not leak."""
from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from marketplace.accounts.roles import CANNOT_SELL_REASON, user_can_sell
from marketplace.accounts.throttling import LoginRateThrottle
from marketplace.catalogue import selectors as catalogue_selectors
from marketplace.catalogue.models import Item
from marketplace.catalogue.services import reindex_start
from marketplace.jobs import model_versions, photo_jobs
from marketplace.jobs import runs as job_runs
from marketplace.jobs import selectors as job_selectors
from marketplace.jobs.models import ImageJob, ModelVersion, ReindexRun, TrainingRun
from marketplace.listings import services as listing_services
from marketplace.listings.models import Listing, Suggestion
from marketplace.shopping import services as shopping_services
from marketplace.shopping.models import SearchQuery
from marketplace.uploads import UploadRejected

from . import serializers as s
from .permissions import IsStaff
from .throttling import ThrottleReasonMixin, UploadRateThrottle

# Primary keys are 64-bit: a longer number in the path is simply not found (SQLite overflowed on it: a 500).
PK_PATTERN = r"[0-9]{1,18}"


def _accept_upload(request, create) -> Response:
    """A photo upload: validate the form, `create(upload, garment_type)` -> (row, job), and answer 202 with the job
    to follow (or the upload's rejection)."""
    form = s.PhotoUploadSerializer(data=request.data)
    if "image" not in request.FILES:
        raise ValidationError({"image": ["no image file was sent: use the multipart field 'image'"]})
    form.is_valid(raise_exception=True)
    try:
        row, job = create(request.FILES["image"], form.validated_data.get("garment_type"))
    except UploadRejected as exc:
        return Response({"detail": exc.reason}, status=exc.status)
    body = {"id": row.pk, "job": s.JobSerializer(job, context={"request": request}).data}
    return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["job"]["url"]})


class TokenLogin(ThrottleReasonMixin, ObtainAuthToken):
    """Username and password -> API token; password guesses are throttled per account and address."""

    throttle_classes = [LoginRateThrottle]
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES  # the depth-limited JSON parser, not DRF's plain one


class ItemViewSet(viewsets.ReadOnlyModelViewSet):
    """The public catalogue."""

    lookup_value_regex = PK_PATTERN
    serializer_class = s.ItemSerializer
    permission_classes = [AllowAny]
    queryset = Item.objects.prefetch_related("stock_images")


class ListingViewSet(ThrottleReasonMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin,
                     mixins.ListModelMixin, viewsets.GenericViewSet):
    """A seller's own listings. Only sellers (and staff) create them; a buyer's list is simply empty."""

    serializer_class = s.ListingSerializer
    lookup_value_regex = PK_PATTERN

    def get_queryset(self):
        mine = Listing.objects.filter(seller=self.request.user)
        if self.action in ("upload_photo", "suggestions"):
            # Only the listing row: prefetching every photo and job made each upload slower the more the listing
            # had (measured: 7 of 16 ms per upload at ten photos; bench/bench_uploads.py).
            return mine
        return mine.prefetch_related("photos__job__generated", "catalogue_images")

    def perform_create(self, serializer):
        if not user_can_sell(self.request.user):
            raise PermissionDenied(CANNOT_SELL_REASON)
        serializer.instance = listing_services.listing_create(seller=self.request.user, **serializer.validated_data)

    @extend_schema(request={"multipart/form-data": s.PhotoUploadSerializer}, responses={202: s.AcceptedSerializer})
    @action(detail=True, methods=["post"], url_path="photos", throttle_classes=[UploadRateThrottle])
    def upload_photo(self, request, pk=None):
        """Upload a street photo of the garment; answers 202 with the job to follow."""
        listing = self.get_object()
        return _accept_upload(request, lambda upload, garment: listing_services.listing_photo_create(
            listing=listing, upload=upload, garment_type=garment))

    @extend_schema(responses=s.SuggestionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def suggestions(self, request, pk=None):
        listing = self.get_object()
        rows = Suggestion.objects.filter(photo__listing=listing).select_related("stock_image__item")
        return Response(s.SuggestionSerializer(rows, many=True, context={"request": request}).data)


class SuggestionViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.SuggestionSerializer
    lookup_value_regex = PK_PATTERN

    def get_queryset(self):
        return Suggestion.objects.filter(photo__listing__seller=self.request.user).select_related(
            "stock_image__item", "photo__listing")

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """Accept a suggestion: its stock image becomes one of the listing's catalogue images."""
        sug = listing_services.suggestion_accept(self.get_object())
        return Response(self.get_serializer(sug).data)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        sug = listing_services.suggestion_reject(self.get_object())
        return Response(self.get_serializer(sug).data)


@extend_schema(parameters=[OpenApiParameter("state", str, enum=ImageJob.State.values, required=False,
                                             description="only jobs in this state")])
class JobViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = s.JobSerializer
    lookup_value_regex = PK_PATTERN

    def get_queryset(self):
        qs = ImageJob.objects.select_related("generated")
        if not self.request.user.is_staff:
            qs = qs.filter(owner=self.request.user)
        state = self.request.query_params.get("state")
        if state and self.action == "list":
            if state not in ImageJob.State.values:
                raise ValidationError({"state": [f"must be one of {', '.join(ImageJob.State.values)}"]})
            qs = qs.filter(state=state)
        return qs

    @extend_schema(parameters=[OpenApiParameter(
        "wait", float, required=False,
        description="seconds (at most JOB_WAIT_MAX_SECONDS, default 20) to wait for a running job to end before "
                    "answering: the answer comes the moment it is done or failed (a long poll instead of polling)")])
    def retrieve(self, request, *args, **kwargs):
        wait = _wait_seconds(request)
        if wait:
            # One read, not two: the wait subscribes before its first read (job_events.wait_for_end), so that read
            # answers a job that already ended, and a job that is not the caller's is a 404 before any wait. A long
            # poll starts while the worker claims the job: on two cores, a read fewer here is a faster claim there.
            job = photo_jobs.job_wait_until_ended(int(self.kwargs[self.lookup_field]), wait, read=self.get_object)
        else:
            job = self.get_object()
        return Response(self.get_serializer(job).data)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Retry a failed job from the start."""
        job = self.get_object()
        if not photo_jobs.job_retry(job):
            return Response({"detail": f"only failed jobs can be retried; this one is {job.state}"},
                            status=status.HTTP_409_CONFLICT)
        job.refresh_from_db()
        return Response(self.get_serializer(job).data, status=status.HTTP_202_ACCEPTED)


def _wait_seconds(request) -> float:
    raw = request.query_params.get("wait")
    if raw in (None, ""):
        return 0.0
    limit = settings.JOB_WAIT_MAX_SECONDS
    try:
        wait = float(raw)
    except ValueError:
        wait = -1.0
    if not 0 <= wait <= limit:  # NaN fails this too
        raise ValidationError({"wait": [f"must be a number of seconds from 0 to {limit:g}"]})
    return wait


class SearchQueryViewSet(ThrottleReasonMixin, mixins.RetrieveModelMixin, mixins.ListModelMixin,
                         viewsets.GenericViewSet):
    """Photo searches: open to every signed-in user, sellers included (a seller shops too)."""

    serializer_class = s.SearchQuerySerializer
    lookup_value_regex = PK_PATTERN

    def get_throttles(self):
        return [UploadRateThrottle()] if self.action == "create" else super().get_throttles()

    def get_queryset(self):
        return SearchQuery.objects.filter(buyer=self.request.user).select_related("job__generated")

    @extend_schema(request={"multipart/form-data": s.PhotoUploadSerializer}, responses={202: s.AcceptedSerializer})
    def create(self, request):
        """Search the catalogue with a photo of someone wearing a garment; answers 202 with the job to follow."""
        return _accept_upload(request, lambda upload, garment: shopping_services.search_query_create(
            buyer=request.user, upload=upload, garment_type=garment or "top"))

    @extend_schema(responses=s.RecommendationSerializer(many=True))
    @action(detail=True, methods=["get"])
    def recommendations(self, request, pk=None):
        query = self.get_object()
        rows = query.recommendations.select_related("item").prefetch_related("item__stock_images")
        return Response(s.RecommendationSerializer(rows, many=True, context={"request": request}).data)


# --- staff -------------------------------------------------------------------------------------------------------
# Runs an operator starts (create), follows (retrieve) and lists. (A comment, not a docstring: the API's schema would
# show it as the description of every run endpoint.)
class _RunViewSet(mixins.CreateModelMixin, mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    lookup_value_regex = PK_PATTERN
    permission_classes = [IsStaff]


class TrainingRunViewSet(_RunViewSet):
    serializer_class = s.TrainingRunSerializer
    queryset = TrainingRun.objects.all()

    @extend_schema(request=s.TrainingParametersSerializer, responses={202: s.TrainingRunSerializer})
    def create(self, request):
        """Start a training run on the `train` queue."""
        params = s.TrainingParametersSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        run = job_runs.training_run_start(user=request.user, parameters=params.validated_data)
        return Response(self.get_serializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        run = job_runs.training_run_cancel(self.get_object())
        return Response(self.get_serializer(run).data, status=status.HTTP_202_ACCEPTED)


class ReindexRunViewSet(_RunViewSet):
    serializer_class = s.ReindexRunSerializer
    queryset = ReindexRun.objects.all()

    @extend_schema(request=None, responses={202: s.ReindexRunSerializer})
    def create(self, request):
        """Rebuild the vector index from every stock image."""
        run = reindex_start(user=request.user)
        return Response(self.get_serializer(run).data, status=status.HTTP_202_ACCEPTED)


class ModelVersionViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    lookup_value_regex = PK_PATTERN
    serializer_class = s.ModelVersionSerializer
    permission_classes = [IsStaff]
    queryset = ModelVersion.objects.all()

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        """Roll this version out: a GPU worker checks the checkpoint loads, then makes it the active model."""
        version = self.get_object()
        task_id = model_versions.model_version_roll_out(version)
        if task_id is None:
            return Response({"detail": "the job queue is unreachable; try again"}, status=503)
        return Response({"detail": "roll-out queued", "task_id": task_id}, status=status.HTTP_202_ACCEPTED)


class RetryFailedJobs(APIView):
    """Put every failed photo job back in the queue (each keeps its record; the reason is cleared on retry)."""

    permission_classes = [IsStaff]

    @extend_schema(request=None, responses={202: dict})
    def post(self, request):
        return Response({"retried": photo_jobs.jobs_retry_failed()}, status=status.HTTP_202_ACCEPTED)


class QueueOverview(APIView):
    """Counts per state for every kind of job: what an operator watches."""

    permission_classes = [IsStaff]

    @extend_schema(responses={200: dict})
    def get(self, request):
        return Response(job_selectors.queue_overview(index=catalogue_selectors.index_overview()))
