"""The metadata schema shared by every source: HAM10000's columns plus what we add."""

# HAM10000 diagnosis codes, in the order used for labels, probabilities and plots.
CLASSES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
CLASS_NAMES = {
    "akiec": "actinic keratosis / intraepithelial carcinoma",
    "bcc": "basal cell carcinoma",
    "bkl": "benign keratosis-like lesion",
    "df": "dermatofibroma",
    "mel": "melanoma",
    "nv": "melanocytic nevus",
    "vasc": "vascular lesion",
}
MALIGNANT = ("akiec", "bcc", "mel")

# Image counts per class in the 10,015 HAM10000 training images (Tschandl et al., 2018).
HAM10000_COUNTS = {"akiec": 327, "bcc": 514, "bkl": 1099, "df": 115, "mel": 1113, "nv": 6705, "vasc": 142}

# Columns of HAM10000_metadata.csv, in order. Every source writes them all.
HAM_COLUMNS = ("lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization")
# Optional columns a source may fill: the given split and ground-truth skin tone.
SPLITS = ("train", "val", "test")
FITZPATRICK_TYPES = (1, 2, 3, 4, 5, 6)
