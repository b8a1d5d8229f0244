"""Rules of the segment benches: segment_refine, segment_pooled, segment_learning_curve and the saved maps they read."""
import numpy as np

from bench import segment_refine as refine


def _step(size=64, edge=40):
    guide = np.zeros((size, size), np.float32)
    guide[:, edge:] = 1.0
    return guide


def test_guided_filter_snaps_a_blurred_outline_to_the_guides_edge():
    guide = _step()
    blurred = np.clip((np.arange(64, dtype=np.float32) - 30) / 20.0, 0, 1)[None].repeat(64, 0)  # ramp 30..50
    out = refine.guided_filter(guide, blurred, radius=6, eps=1e-3)
    # the ramp crosses 0.5 at column 40 (the guide's edge); after filtering the transition is a step there
    assert out[32, 36] < 0.35 and out[32, 44] > 0.65
    assert out[32, 36] < blurred[32, 36] and out[32, 44] > blurred[32, 44]


def test_guided_filter_on_a_flat_guide_is_a_box_mean():
    source = np.zeros((32, 32), np.float32)
    source[16, 16] = 9.0
    out = refine.guided_filter(np.full((32, 32), 0.5, np.float32), source, radius=1, eps=1e-2)
    # a = 0 where the guide is flat, so the output is the 3x3 box mean of the 3x3 box mean: a 5x5 tent
    # kernel (1, 2, 3, 2, 1)/9 per axis, 9/81 at the centre and 3/81 two columns off
    assert np.isclose(out[16, 16], 1.0, atol=1e-4) and np.isclose(out[16, 18], 1.0 / 3, atol=1e-4)
    assert np.isclose(out.sum(), 9.0, rtol=0.02)


def test_variants_include_plain_and_every_guided_setting():
    rgb = np.zeros((30, 40, 3), np.uint8)
    prob = np.full((16, 16), 0.7, np.float32)
    found = refine.variants(rgb, prob)
    assert set(found) >= {"plain"}
    assert len(found) == 1 + len(refine.GUIDES) * len(refine.RADII) * len(refine.EPSILONS)
    assert all(value.shape == (30, 40) for value in found.values())
    assert np.allclose(found["plain"], 0.7)


def test_choose_takes_the_best_and_breaks_ties_towards_plain_then_the_smaller_radius():
    g_small, g_big = "guided grey r0.01 eps0.001", "guided grey r0.04 eps0.001"
    assert refine.choose({("plain", 0.5): 0.90, (g_small, 0.5): 0.91}, 0.5) == (g_small, 0.5)
    assert refine.choose({("plain", 0.5): 0.91, (g_small, 0.5): 0.91}, 0.5) == ("plain", 0.5)
    assert refine.choose({("plain", 0.5): 0.90, (g_big, 0.5): 0.91, (g_small, 0.6): 0.91004}, 0.5) == (g_small, 0.6)
    assert refine.choose({("plain", 0.6): 0.91, ("plain", 0.4): 0.91, ("plain", 0.5): 0.90}, 0.5) == ("plain", 0.4)
    assert refine.choose({(g_small, 0.5): 0.91, ("plain", 0.4): 0.91}, 0.5) == ("plain", 0.4)  # plain first
    loose, tight = "guided blue r0.01 eps0.01", "guided blue r0.01 eps0.001"
    assert refine.choose({(tight, 0.5): 0.91, (loose, 0.5): 0.91}, 0.5) == (loose, 0.5)  # the larger eps


def test_against_plain_pairs_rows_by_image_not_by_order():
    import pandas as pd

    chosen = ("guided grey r0.01 eps0.001", 0.5)
    rows = []
    for n, split in enumerate(["train", "val", "test", "test"]):
        rows.append({"image_id": f"i{n}", "lesion_id": f"L{n}", "split": split, "variant": "plain", "threshold": 0.5,
                     "dice": 0.5})
        rows.append({"image_id": f"i{n}", "lesion_id": f"L{n}", "split": split, "variant": chosen[0], "threshold": 0.5,
                     "dice": 0.5 + 0.1 * (split == "test")})
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=3)  # shuffled: pairing must go by image_id
    text = refine.against_plain(frame, chosen, [0.5], seed=0)
    assert "train+val: +0.00000 (+0.00000 to +0.00000; 0 / 0)" in text
    assert "test: +0.10000 (+0.10000 to +0.10000; 2 / 0)" in text


def test_pooled_paired_interval_weights_lesions_by_their_images():
    import pandas as pd

    from bench import segment_pooled

    frame = pd.DataFrame({"lesion_id": ["a", "a", "b", "c"], "diff": [0.1, 0.3, -0.2, 0.0]})
    mean, low, high = segment_pooled.paired_interval(frame, "diff", n_boot=500, seed=0)
    assert np.isclose(mean, 0.05)  # the mean over images, not over lesions (0.0667)
    assert low < mean < high and -0.2 - 1e-9 <= low and high <= 0.2 + 1e-9  # within the extreme lesions
    same = pd.DataFrame({"lesion_id": list("abcd"), "diff": [0.01] * 4})
    assert np.allclose(segment_pooled.paired_interval(same, "diff", 200, 0), (0.01, 0.01, 0.01))


def test_learning_curve_shares_are_nested_and_keep_lesions_whole():
    from types import SimpleNamespace

    from bench import segment_learning_curve as curve

    items = [SimpleNamespace(image_id=f"i{n}", lesion_id=f"L{n // 2}") for n in range(20)]  # 10 lesions, 2 images each
    quarter, half, whole = (curve.share_of(items, f, seed=42) for f in (0.25, 0.5, 1.0))
    assert [len({i.lesion_id for i in s}) for s in (quarter, half, whole)] == [3, 5, 10]  # ceil(2.5), 5, 10
    assert len(quarter) == 6 and len(whole) == 20  # a kept lesion brings both its images
    assert {i.image_id for i in quarter} < {i.image_id for i in half} < {i.image_id for i in whole}
    assert curve.share_of(items, 0.0, seed=42) == []
    assert {i.lesion_id for i in curve.share_of(items, 0.5, seed=1)} != {i.lesion_id for i in half}


def _saved_layout(tmp_path):
    import cv2

    raw, split, probs = tmp_path / "raw", tmp_path / "split", tmp_path / "probs"
    (raw / "images").mkdir(parents=True)
    (raw / "masks").mkdir()
    split.mkdir()
    probs.mkdir()
    header = "image_id,lesion_id,dx,image,mask\n"
    rows = {"train": "a,La,nv,images/a.png,masks/a.png\nb,Lb,nv,images/b.png,\n", "val": "c,Lc,mel,images/c.png,masks/c.png\n",
            "test": ""}
    for name, body in rows.items():
        (split / f"{name}.csv").write_text(header + body)
    for image_id in "abc":
        cv2.imwrite(str(raw / "images" / f"{image_id}.png"), np.zeros((12, 16, 3), np.uint8))
    for image_id in "ac":
        cv2.imwrite(str(raw / "masks" / f"{image_id}.png"), np.zeros((12, 16), np.uint8))
    np.save(probs / "a.npy", np.full((8, 8), 0.25, np.float16))
    return raw, split, probs


def test_saved_maps_yield_the_images_with_a_mask_and_name_a_missing_map(tmp_path):
    import pytest

    from bench import segment_maps

    raw, split, probs = _saved_layout(tmp_path)
    first = next(segment_maps.saved(raw, split, probs, "bench_x"))
    item, rgb, truth, prob = first
    assert item.image_id == "a" and rgb.shape == (12, 16, 3) and truth.shape == (12, 16)
    assert np.allclose(prob, 0.25)
    with pytest.raises(SystemExit, match=r"bench_x: no probability map .*c\.npy for val image c"):
        list(segment_maps.saved(raw, split, probs, "bench_x"))  # b has no mask and is skipped; c has no map
    np.save(probs / "c.npy", np.zeros((8, 8), np.float16))
    assert [found[0].image_id for found in segment_maps.saved(raw, split, probs, "bench_x")] == ["a", "c"]


def test_learning_curve_refuses_a_share_outside_0_to_1(tmp_path):
    import pytest

    from bench import segment_learning_curve as curve

    argv = ["--params", str(tmp_path / "p.yaml"), "--raw", "r", "--split", "s", "--pretrained", "w.h5",
            "--out", str(tmp_path / "out"), "--fractions", "0.5", "1.5"]
    with pytest.raises(SystemExit, match=r"--fractions must lie in 0\.\.1 \(got \[0\.5, 1\.5\]\)"):
        curve.main(argv)
    assert not (tmp_path / "out").exists()  # stopped before reading params or writing anything
