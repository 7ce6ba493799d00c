"""Quality metrics: FID, KID, perceptual path length, PSNR/SSIM."""
