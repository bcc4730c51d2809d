from decimal import Decimal

from rest_framework import serializers
from rest_framework.reverse import reverse

from marketplace.catalogue.models import GarmentType, Item, StockImage
from marketplace.jobs.models import GeneratedImage, ImageJob, ModelVersion, ReindexRun, TrainingRun
from marketplace.listings.models import Listing, ListingPhoto, Suggestion
from marketplace.shopping.models import Recommendation, SearchQuery

MAX_PRICE = Decimal("1000000.00")


class StockImageSerializer(serializers.ModelSerializer):
    class Meta:
        model = StockImage
        fields = ["id", "item", "image"]


class ItemSerializer(serializers.ModelSerializer):
    stock_images = StockImageSerializer(many=True, read_only=True)

    class Meta:
        model = Item
        fields = ["id", "title", "category", "price", "in_stock", "stock_images"]


# DRF's datetime output (ISO 8601, "Z" for UTC), unbound: JobSerializer.to_representation formats with it. (A Field
# as a serializer's class attribute would be taken for one of its fields.)
_DATETIME = serializers.DateTimeField()


class JobSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    generated_image = serializers.SerializerMethodField()
    stage1_image = serializers.SerializerMethodField()
    preprocessed_image = serializers.SerializerMethodField()
    trained_model = serializers.SerializerMethodField()

    class Meta:
        model = ImageJob
        fields = ["id", "url", "kind", "state", "error", "attempts", "garment_type", "preprocess_method", "warnings",
                  "confident", "confidence_note", "timings", "model_label", "trained_model", "generated_image",
                  "stage1_image", "preprocessed_image", "created_at", "started_at", "finished_at"]

    # Copied as they are (the datetimes go through DRF's own field: `_DATETIME`).
    _PLAIN = ("id", "kind", "state", "error", "attempts", "garment_type", "preprocess_method", "warnings",
              "confident", "confidence_note", "timings", "model_label")

    def to_representation(self, job) -> dict:
        """The answer the declared fields give, built directly (tests/web/test_job_representation.py compares the
        two on jobs in every state). Why: a ModelSerializer builds its twenty fields anew for every instance, which
        was half of the 1 ms this answer cost, and every upload's 202 and every poll or long poll of a job
        answers with it."""
        out = {name: getattr(job, name) for name in self._PLAIN}
        gen = self._generated_row(job)
        request = self.context.get("request")
        out["url"] = self.get_url(job)
        out["trained_model"] = gen.trained if gen else None
        for name, field in (("generated_image", "image"), ("stage1_image", "stage1_image"),
                            ("preprocessed_image", "preprocessed_image")):
            f = getattr(gen, field, None) if gen else None
            out[name] = (request.build_absolute_uri(f.url) if request else f.url) if f else None
        for name in ("created_at", "started_at", "finished_at"):
            out[name] = _DATETIME.to_representation(getattr(job, name))
        return {name: out[name] for name in self.Meta.fields}

    def get_url(self, job) -> str:
        return reverse("job-detail", args=[job.pk], request=self.context.get("request"))

    @staticmethod
    def _generated_row(job):
        if job.started_at is None:  # no stage has claimed it yet (an upload's 202 answer): no row to look for
            return None
        try:
            return job.generated
        except GeneratedImage.DoesNotExist:
            return None

    def _file_url(self, job, field) -> str | None:
        gen = self._generated_row(job)
        f = getattr(gen, field, None) if gen else None
        if not f:
            return None
        request = self.context.get("request")
        return request.build_absolute_uri(f.url) if request else f.url

    def get_generated_image(self, job) -> str | None:
        return self._file_url(job, "image")

    def get_stage1_image(self, job) -> str | None:
        return self._file_url(job, "stage1_image")

    def get_preprocessed_image(self, job) -> str | None:
        return self._file_url(job, "preprocessed_image")

    def get_trained_model(self, job) -> bool | None:
        gen = self._generated_row(job)
        return gen.trained if gen else None


class ListingPhotoSerializer(serializers.ModelSerializer):
    job = JobSerializer(read_only=True)

    class Meta:
        model = ListingPhoto
        fields = ["id", "listing", "image", "garment_type", "width", "height", "created_at", "job"]


class ListingSerializer(serializers.ModelSerializer):
    """Titles are trimmed, non-empty and at most 200 characters; prices are 0 to 1,000,000 with two decimals."""

    title = serializers.CharField(max_length=200, trim_whitespace=True, allow_blank=False)
    garment_type = serializers.ChoiceField(choices=GarmentType.choices, default=GarmentType.TOP)
    price = serializers.DecimalField(max_digits=9, decimal_places=2, min_value=Decimal("0"),
                                     max_value=MAX_PRICE, required=False, allow_null=True)
    photos = ListingPhotoSerializer(many=True, read_only=True)
    catalogue_images = StockImageSerializer(many=True, read_only=True)

    class Meta:
        model = Listing
        fields = ["id", "title", "garment_type", "price", "created_at", "photos", "catalogue_images"]


class PhotoUploadSerializer(serializers.Serializer):
    image = serializers.FileField(help_text="JPEG, PNG or WebP photo of a person wearing the garment")
    garment_type = serializers.ChoiceField(choices=GarmentType.choices, required=False)


class SuggestionSerializer(serializers.ModelSerializer):
    stock_image = StockImageSerializer(read_only=True)
    item_title = serializers.CharField(source="stock_image.item.title", read_only=True)

    class Meta:
        model = Suggestion
        fields = ["id", "photo", "rank", "score", "low_confidence", "status", "stock_image", "item_title"]


class SearchQuerySerializer(serializers.ModelSerializer):
    job = JobSerializer(read_only=True)

    class Meta:
        model = SearchQuery
        fields = ["id", "image", "garment_type", "width", "height", "created_at", "job"]


class RecommendationSerializer(serializers.ModelSerializer):
    item = ItemSerializer(read_only=True)

    class Meta:
        model = Recommendation
        fields = ["rank", "score", "low_confidence", "item"]


class AcceptedSerializer(serializers.Serializer):
    """The 202 answer to an upload: where to follow the job."""

    id = serializers.IntegerField()
    job = JobSerializer()


class TrainingRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = TrainingRun
        fields = ["id", "state", "parameters", "progress", "step", "total_steps", "last_losses", "error", "attempts",
                  "output_dir", "cancel_requested", "created_at", "started_at", "finished_at", "log"]
        read_only_fields = [f for f in fields if f != "parameters"]


class TrainingParametersSerializer(serializers.Serializer):
    """What an operator may set; everything else keeps the trainer's documented defaults."""

    steps = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False)
    image_size = serializers.ChoiceField(choices=[64, 128, 256], required=False)
    batch_size = serializers.IntegerField(min_value=1, max_value=512, required=False)
    lr = serializers.FloatField(min_value=1e-6, max_value=1e-1, required=False)
    seed = serializers.IntegerField(required=False)
    arch = serializers.ChoiceField(
        choices=["v1", "v2"], required=False,
        help_text="network architecture (imagegen.networks.ARCHS): v1, the shipped model's (default), or v2: "
                  "garment-type conditioning, resize-conv up-sampling, spectral-normalised discriminators")
    fm_weight = serializers.FloatField(
        min_value=0.0, max_value=100.0, required=False,
        help_text="feature-matching loss weight (0, the default, leaves it out; 10 is pix2pixHD's): keeps stripes "
                  "and checks from averaging into blur")
    data = serializers.CharField(required=False, help_text="manifest path on the training worker")
    include_feedback = serializers.BooleanField(
        required=False, default=True,
        help_text="also train on the pairs sellers confirmed by accepting a suggestion (listing photo -> stock image)")
    activate = serializers.BooleanField(required=False, default=False,
                                        help_text="roll the new model out when training succeeds")


class ReindexRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReindexRun
        fields = ["id", "state", "total", "done", "error", "created_at", "finished_at"]


class ModelVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = ["id", "label", "checkpoint", "metrics", "is_active", "training_run", "created_at", "activated_at"]
