"""What each peer's dataset class does with an exported folder, written from its documented behaviour.

These are not the peers' code (their training stacks need CUDA extensions and
Lightning); each function performs the same file lookups, slices, draws
without replacement, dtype casts and sign interpretation as the loader named
in its docstring, and raises where that loader would raise. The loaders
swallow such errors and retry or skip (Dora, Step1X-3D, Hunyuan3D-2.1), which
is why a broken export trains on nothing instead of failing: here they surface.
"""

from __future__ import annotations

import glob
import json
import os

import numpy as np


def dora_items(root: str, split: str = "train", n_supervision=(21384, 10000, 10000), supervision_type: str = "tsdf"):
    """Seed3D/Dora ``craftsman/data/objaverse.py`` ``ObjaverseDataset._load_shape`` + ``_load_shape_supervision``.

    Yields one dict per listed object: ``coarse_surface``, ``sharp_surface`` (m, 6),
    ``rand_points`` (sum n_supervision, 3) and ``sdf`` (tsdf) or ``occupancies``.
    """
    uids = json.load(open(f"{root}/{split}.json"))  # objaverse.py:112
    rng = np.random.default_rng(0)
    for uid in uids:
        data = np.load(f"{uid}")  # objaverse.py:123: the listed path as is
        coarse = data["fps_coarse_surface"][:, 0, :]  # objaverse.py:132
        sharp = data["fps_sharp_surface"][:, 0, :]  # objaverse.py:141
        rand_points, sdfs = data["rand_points"][:, :3], data["rand_points"][:, 3]
        sharp_points, sharp_sdfs = data["sharp_near_surface"][:, :3], data["sharp_near_surface"][:, 3]
        ind2 = rng.choice(sharp_points.shape[0], n_supervision[0], replace=False)  # objaverse.py:174
        ind3 = rng.choice(rand_points[:400000].shape[0], n_supervision[1], replace=False)  # :175
        ind4 = rng.choice(rand_points[400000:].shape[0], n_supervision[2], replace=False)  # :176
        points = np.concatenate([sharp_points[ind2], rand_points[:400000][ind3], rand_points[400000:][ind4]])
        labels = np.concatenate([sharp_sdfs[ind2], sdfs[:400000][ind3], sdfs[400000:][ind4]])
        item = {"uid": uid, "coarse_surface": coarse.astype(np.float32), "sharp_surface": sharp.astype(np.float32),
                "rand_points": points.astype(np.float32)}
        if supervision_type == "occupancy":
            item["occupancies"] = np.where(labels < 0, 0, 1).astype(np.float32)  # objaverse.py:196: positive inside
        else:
            item["sdf"] = labels.astype(np.float32).clip(-0.015, 0.015) / 0.015  # objaverse.py:206
        # The Michelangelo encoder FPSes 2048 tokens from each set (michelangelo_autoencoder.py:119-142).
        if coarse.shape[0] < 2048 or sharp.shape[0] < 2048:
            raise ValueError("fewer than 2048 points in a surface set: FPS ratio above 1")
        yield item


def step1x_items(root: str, split: str = "train", n_samples: int = 32768, n_supervision: int = 10000,
                 supervision_type: str = "occupancy", with_sharp_data: bool = True):
    """stepfun-ai/Step1X-3D ``step1x3d_geometry/data/base.py`` ``BaseDataset`` (sampling_strategy "random")."""
    uids = json.load(open(f"{root}/{split}.json"))  # base.py:86
    rng = np.random.default_rng(0)
    for uid in uids:
        data = np.load(f"{root}/surfaces/{uid}.npz")  # base.py:106
        surface = data["surface"]
        ind = rng.choice(surface.shape[0], n_samples, replace=True)  # base.py:119
        item = {"uid": uid.split("/")[-1], "surface": surface[ind].astype(np.float32)}  # base.py:149
        if with_sharp_data:
            item["sharp_surface"] = data["sharp_surface"][ind].astype(np.float32)  # base.py:126: the surface's indices
        both = np.concatenate([data["volume_rand_points"], data["near_surface_points"]], axis=0)  # base.py:166
        pick = rng.choice(both.shape[0], n_supervision, replace=False)  # base.py:177
        item["rand_points"] = both[pick, :3].astype(np.float32)
        if supervision_type == "occupancy":
            item["occupancies"] = np.where(both[pick, 3] < 1e-3, 0, 1).astype(np.float32)  # base.py:186
        else:
            item["sdf"] = both[pick, 3].astype(np.float32)
        yield item


def hunyuan_items(data_list: str, pc_size: int = 81920, pc_sharpedge_size: int = 0):
    """Tencent-Hunyuan/Hunyuan3D-2.1 ``hy3dshape/data/dit_asl.py`` ``AlignedShapeLatentDataset`` geometry part."""
    rng = np.random.default_rng(0)
    for item in sorted(glob.glob(data_list + "/*")):  # dit_asl.py:152: every entry is an item
        uid = item.split("/")[-1]  # dit_asl.py:248
        surface = np.load(os.path.join(item, f"geo_data/{uid}_surface.npz"))  # dit_asl.py:251
        random_surface, sharp = surface["random_surface"], surface["sharp_surface"]
        parts = []
        if pc_size > 0:
            parts.append(random_surface[rng.choice(random_surface.shape[0], pc_size, replace=False)])  # :181
        if pc_sharpedge_size > 0:
            parts.append(sharp[rng.choice(sharp.shape[0], pc_sharpedge_size, replace=False)])  # :189
        points = np.concatenate(parts).astype(np.float32)
        assert points.shape[0] == pc_size + pc_sharpedge_size  # dit_asl.py:200
        yield {"uid": uid, "surface": points}


def triposg_surface(path: str, num_pc: int = 204800) -> np.ndarray:
    """VAST-AI-Research/TripoSG ``scripts/inference_vae.py`` ``load_surface``: (num_pc, 6) float32."""
    data = np.load(path, allow_pickle=True).tolist()  # inference_vae.py:13
    surface, normal = data["surface_points"], data["surface_normals"]
    ind = np.random.default_rng(0).choice(surface.shape[0], num_pc, replace=False)  # :18
    return np.concatenate([surface[ind], normal[ind]], axis=-1).astype(np.float32)


def vecset_items(dataset_folder: str, split: str = "train", num_samples: int = 1024, pc_size: int = 2048):
    """1zb/3DShape2VecSet ``util/shapenet.py`` ``ShapeNet.__getitem__`` (sampling and surface_sampling on)."""
    point_folder = os.path.join(dataset_folder, "ShapeNetV2_point")
    mesh_folder = os.path.join(dataset_folder, "ShapeNetV2_watertight")
    categories = sorted(c for c in os.listdir(point_folder)
                        if os.path.isdir(os.path.join(point_folder, c)) and c.startswith("0"))  # shapenet.py:94-96
    rng = np.random.default_rng(0)
    for category in categories:
        with open(os.path.join(point_folder, category, split + ".lst")) as handle:
            models = handle.read().split("\n")  # shapenet.py:107: a trailing newline makes an empty model
        for model in (m.replace(".npz", "") for m in models):
            point_path = os.path.join(point_folder, category, model + ".npz")
            with np.load(point_path) as data:  # shapenet.py:124
                vol_points, vol_label = data["vol_points"], data["vol_label"]
                near_points, near_label = data["near_points"], data["near_label"]
            with open(point_path.replace(".npz", ".npy"), "rb") as handle:
                scale = np.load(handle).item()  # shapenet.py:134
            with np.load(os.path.join(mesh_folder, category, "4_pointcloud", model + ".npz")) as data:
                surface = data["points"].astype(np.float32) * scale  # shapenet.py:139-140
            surface = surface[rng.choice(surface.shape[0], pc_size, replace=False)]  # :142
            vol = rng.choice(vol_points.shape[0], num_samples, replace=False)  # :147
            near = rng.choice(near_points.shape[0], num_samples, replace=False)  # :151
            points = np.concatenate([vol_points[vol], near_points[near]]).astype(np.float32)
            labels = np.concatenate([vol_label[vol], near_label[near]]).astype(np.float32)  # .float()
            yield {"model": model, "category": category, "points": points, "labels": labels, "surface": surface}
