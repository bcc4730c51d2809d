"""The garment types, below every app: the catalogue files items by them, a job's photo is cropped and searched by
them (marketplace.jobs), listings and searches record them. A module of its own, not part of an app, so that
marketplace.jobs, the bottom layer, need not import the catalogue for them."""
from django.db import models


class GarmentType(models.TextChoices):
    """Which part of the body the garment covers; it picks the preprocessing crop and filters the search."""

    TOP = "top", "Top"
    BOTTOM = "bottom", "Bottom"
    WHOLE = "whole", "Whole body"
