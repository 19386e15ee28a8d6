/** bcrypt cost: 12 ≈ 0.23 s per hash in bcryptjs on our 2-core VM (measured 2026-11-25); tests use 4. */
export const DEFAULT_BCRYPT_COST = 12;
