import pytest
import yaml

from skinlab import params
from tests.helpers import REPO


def test_repository_params_are_valid():
    cfg = params.load(REPO / "params.yaml")
    assert cfg.download.source == "synthetic"
    assert 0 < cfg.split.val_fraction < 1


def test_defaults_fill_missing_sections():
    cfg = params.parse({"base": {"seed": 1}})
    assert cfg.base.seed == 1 and cfg.base.image_size == 64


def test_unknown_key_is_named():
    with pytest.raises(params.ParamsError, match=r"params.yaml: unknown key 'split.val_fracton'"):
        params.parse({"split": {"val_fracton": 0.2}})


def test_out_of_range_value_is_named_with_value():
    with pytest.raises(params.ParamsError, match=r"split.val_fraction .*0\.1|split.val_fraction.*got 1.5"):
        params.parse({"split": {"val_fraction": 1.5}})


def test_wrong_type_is_named():
    with pytest.raises(params.ParamsError, match=r"base.seed"):
        params.parse({"base": {"seed": "abc"}})


def test_unknown_source_is_named():
    with pytest.raises(params.ParamsError, match=r"download.source"):
        params.parse({"download": {"source": "kaggle"}})


def test_cross_field_rule_is_named():
    with pytest.raises(params.ParamsError, match=r"split.*val_fraction \+ test_fraction must be < 1"):
        params.parse({"split": {"val_fraction": 0.6, "test_fraction": 0.5}})


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(params.ParamsError, match="file not found"):
        params.load(tmp_path / "nope.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("base: [1, 2\n")
    with pytest.raises(params.ParamsError, match="not valid YAML"):
        params.load(bad)


def test_every_leaf_of_the_repository_file_is_a_declared_key():
    """A key in params.yaml that the model does not know would have failed load(); check the reverse
    too: the file spells out every default, so `dvc params diff` shows every knob."""
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    dumped = params.parse(data).model_dump()

    def leaves(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from leaves(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}"

    assert set(leaves(data)) == set(leaves(dumped))


def test_synthetic_floor_must_fit_in_the_lesion_count():
    with pytest.raises(params.ParamsError, match=r"download.synthetic.*n_lesions must be >= 7 \* min_lesions_per_class"):
        params.parse({"download": {"synthetic": {"n_lesions": 50, "min_lesions_per_class": 10}}})


def test_repeated_feature_set_is_named():
    with pytest.raises(params.ParamsError, match=r"params.yaml: train_baselines: features lists hog more than once"):
        params.parse({"train_baselines": {"features": ["hog", "lbp", "hog"]}})


def test_unknown_feature_set_is_named():
    with pytest.raises(params.ParamsError, match=r"train_baselines.features.1"):
        params.parse({"train_baselines": {"features": ["hog", "gabor"]}})


def test_a_boolean_is_not_taken_for_a_number():
    with pytest.raises(params.ParamsError, match=r"base.seed"):
        params.parse({"base": {"seed": True}})


def test_image_limits_and_a_tilde_in_the_folder_path_are_named():
    assert params.parse({}).download.max_image_pixels == 50_000_000
    with pytest.raises(params.ParamsError, match=r"download.max_image_pixels Input should be greater than or equal to 1 \(got 0\)"):
        params.parse({"download": {"max_image_pixels": 0}})
    with pytest.raises(params.ParamsError, match=r"download.min_image_side Input should be greater than or equal to 1 \(got 0\)"):
        params.parse({"download": {"min_image_side": 0}})
    with pytest.raises(params.ParamsError, match=r"download.folder: path: DVC does not expand '~' \(got '~/x'\)"):
        params.parse({"download": {"folder": {"path": "~/x"}}})


def test_train_cnn_section_rejects_bad_values_naming_the_key():
    with pytest.raises(params.ParamsError, match="unknown key 'train_cnn.learning_rte'"):
        params.parse({"train_cnn": {"learning_rte": 0.1}})
    with pytest.raises(params.ParamsError, match="train_cnn.epochs"):
        params.parse({"train_cnn": {"epochs": 0}})
    with pytest.raises(params.ParamsError, match=r"train_cnn.mixup Input should be greater than or equal to 0 \(got -0.2\)"):
        params.parse({"train_cnn": {"mixup": -0.2}})
    with pytest.raises(params.ParamsError, match=r"train_cnn.metadata.0 .*'dx_type'"):
        params.parse({"train_cnn": {"metadata": ["dx_type"]}})  # it leaks the label
    with pytest.raises(params.ParamsError, match="train_cnn: weights: imagenet needs a keras.applications arch"):
        params.parse({"train_cnn": {"weights": "imagenet"}})
    with pytest.raises(params.ParamsError, match="halve image_size 16 below 1 px"):
        params.parse({"train_cnn": {"image_size": 16, "filters": [8, 8, 8, 8, 8]}})
    assert params.parse({"train_cnn": {"arch": "efficientnet_b0", "weights": "imagenet"}}).train_cnn.weights == "imagenet"


def test_segment_section_rejects_bad_values_naming_the_key():
    cfg = params.parse({}).segment
    assert cfg.methods == ("otsu", "kmeans", "grabcut", "unet") and cfg.select_on == "dice" and cfg.work_size == 128
    with pytest.raises(params.ParamsError,
                       match=r"segment.methods.1 Input should be 'otsu', 'kmeans', 'grabcut' or 'unet' \(got 'watershed'\)"):
        params.parse({"segment": {"methods": ["otsu", "watershed"]}})
    with pytest.raises(params.ParamsError, match=r"params.yaml: segment: methods lists otsu more than once"):
        params.parse({"segment": {"methods": ["otsu", "kmeans", "otsu"]}})
    with pytest.raises(params.ParamsError, match=r"segment: methods must name at least one method"):
        params.parse({"segment": {"methods": []}})
    with pytest.raises(params.ParamsError, match=r"segment.select_on .*\(got 'sensitivity'\)"):
        params.parse({"segment": {"select_on": "sensitivity"}})
    with pytest.raises(params.ParamsError, match=r"segment.work_size Input should be greater than or equal to 32 \(got 8\)"):
        params.parse({"segment": {"work_size": 8}})
    with pytest.raises(params.ParamsError, match=r"segment.otsu_shift Input should be less than or equal to 1 \(got 1.5\)"):
        params.parse({"segment": {"otsu_shift": 1.5}})
    with pytest.raises(params.ParamsError, match=r"segment.otsu_channel"):
        params.parse({"segment": {"otsu_channel": "hue"}})
    with pytest.raises(params.ParamsError, match=r"segment.bootstrap Input should be greater than or equal to 100 \(got 10\)"):
        params.parse({"segment": {"bootstrap": 10}})
    with pytest.raises(params.ParamsError, match=r"segment: kmeans_lesion_clusters must be below kmeans_k \(got 3 of 3\)"):
        params.parse({"segment": {"kmeans_k": 3, "kmeans_lesion_clusters": 3}})
    with pytest.raises(params.ParamsError, match=r"unknown key 'segment.method'"):
        params.parse({"segment": {"method": "otsu"}})


def test_segment_unet_section_checks_the_shape_and_the_weights():
    cfg = params.parse({}).segment.unet
    assert (cfg.image_size, cfg.depth, cfg.encoder, cfg.weights) == (64, 3, "plain", "none")
    with pytest.raises(params.ParamsError, match=r"segment.unet: image_size must be a multiple of 2\*\*depth .*"
                                                 r"\(got image_size 48, depth 5\)"):
        params.parse({"segment": {"unet": {"image_size": 48, "depth": 5}}})
    with pytest.raises(params.ParamsError, match=r"segment.unet: weights: imagenet needs encoder: mobilenet_v3_small"):
        params.parse({"segment": {"unet": {"weights": "imagenet"}}})
    with pytest.raises(params.ParamsError, match=r"segment.unet: the mobilenet_v3_small encoder allows depth <= 5"):
        params.parse({"segment": {"unet": {"encoder": "mobilenet_v3_small", "image_size": 128, "depth": 6}}})
    with pytest.raises(params.ParamsError, match=r"segment.unet.threshold Input should be less than 1"):
        params.parse({"segment": {"unet": {"threshold": 1.0}}})
    with pytest.raises(params.ParamsError, match=r"segment.unet.tta Input should be 'none' or 'flips' \(got 'dihedral'\)"):
        params.parse({"segment": {"unet": {"tta": "dihedral"}}})
    with pytest.raises(params.ParamsError, match=r"segment.unet.clean"):
        params.parse({"segment": {"unet": {"clean": "yes please"}}})
    with pytest.raises(params.ParamsError, match=r"segment.unet.augment.hflip"):
        params.parse({"segment": {"unet": {"augment": {"hflip": 2}}}})
    with pytest.raises(params.ParamsError, match=r"unknown key 'segment.unet.epoch'"):
        params.parse({"segment": {"unet": {"epoch": 3}}})
    pretrained = params.parse({"segment": {"unet": {"encoder": "mobilenet_v3_small", "weights": "imagenet",
                                                    "image_size": 128, "depth": 4}}}).segment.unet
    assert pretrained.weights == "imagenet"


def test_segment_unet_pretrain_is_off_by_default_and_bad_values_are_named():
    pretrain = params.parse({}).segment.unet.pretrain
    assert (pretrain.epochs, pretrain.images) == (0, "data/folder")
    with pytest.raises(params.ParamsError, match=r"segment.unet.pretrain: images: DVC does not expand '~' \(got '~/x'\)"):
        params.parse({"segment": {"unet": {"pretrain": {"images": "~/x"}}}})
    with pytest.raises(params.ParamsError, match=r"segment.unet.pretrain: images must not be empty \(set epochs: 0"):
        params.parse({"segment": {"unet": {"pretrain": {"images": " "}}}})
    with pytest.raises(params.ParamsError, match=r"unknown key 'segment.unet.pretrain.epoch'"):
        params.parse({"segment": {"unet": {"pretrain": {"epoch": 4}}}})
