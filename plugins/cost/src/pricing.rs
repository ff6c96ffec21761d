//! Unit prices of GPUs, MIG slices and time-sliced GPUs, from the settings.
//!
//! OpenCost prices a GPU at one hourly rate per node type; gavel refines
//! that with a per-product table and prices a MIG slice as its share of the
//! GPU's compute slices unless the operator lists the profile.

use crate::settings::Prices;

/// Resource name of whole NVIDIA GPUs.
pub const GPU: &str = "nvidia.com/gpu";
/// Prefix of NVIDIA MIG resources in the device plugin's `mixed` strategy.
pub const MIG_PREFIX: &str = "nvidia.com/mig-";

/// The product label value the device plugin's `single` MIG strategy gives a
/// node whose GPUs are all sliced: `A100-SXM4-40GB-MIG-1g.5gb`.
const SINGLE_STRATEGY_MARKER: &str = "-MIG-";

/// USD per GPU-hour of `product` (`None`: not known).
pub fn gpu_hour(prices: &Prices, product: Option<&str>) -> f64 {
    let Some(product) = product else {
        return prices.gpu_hour;
    };
    if let Some(price) = prices.gpu_products.get(product) {
        return *price;
    }
    // Under the single strategy each `nvidia.com/gpu` is a slice.
    if let Some((parent, profile)) = product.split_once(SINGLE_STRATEGY_MARKER) {
        return mig_slice_hour(prices, profile, Some(parent));
    }
    prices.gpu_hour
}

/// USD per slice-hour of MIG `profile` (`1g.5gb`) on a GPU of `parent` product.
pub fn mig_slice_hour(prices: &Prices, profile: &str, parent: Option<&str>) -> f64 {
    if let Some(price) = prices.mig_profiles.get(profile) {
        return *price;
    }
    mig_fraction(prices, profile)
        * gpu_hour(
            prices,
            parent.filter(|p| !p.contains(SINGLE_STRATEGY_MARKER)),
        )
}

/// The share of a whole GPU a MIG `profile` is: its compute slices over the
/// GPU's (`3g.20gb` on an A100 is 3/7). A profile that does not start with
/// `<n>g` counts as a whole GPU, so it is never under-priced.
pub fn mig_fraction(prices: &Prices, profile: &str) -> f64 {
    let slices = profile
        .split_once('g')
        .and_then(|(n, _)| n.parse::<u32>().ok())
        .filter(|n| *n > 0);
    match slices {
        Some(n) => (f64::from(n) / f64::from(prices.mig_compute_slices)).min(1.0),
        None => 1.0,
    }
}

/// The most expensive of `products` per GPU-hour, and its name; the default
/// price when `products` is empty. A pod allowed on several products is priced
/// at the dearest, an upper bound, so that a budget check never under-counts.
pub fn dearest<'a>(prices: &Prices, products: &'a [String]) -> (f64, Option<&'a str>) {
    products
        .iter()
        .map(|p| (gpu_hour(prices, Some(p)), Some(p.as_str())))
        .fold((prices.gpu_hour, None), |best, next| {
            if best.1.is_none() || next.0 > best.0 {
                next
            } else {
                best
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prices() -> Prices {
        let mut p = Prices::default();
        p.gpu_products.insert("NVIDIA-A100-SXM4-80GB".into(), 3.5);
        p.gpu_products.insert("NVIDIA-L4".into(), 0.7);
        p.mig_profiles.insert("2g.20gb".into(), 1.0);
        p
    }

    #[test]
    fn gpu_prices() {
        let p = prices();
        assert_eq!(gpu_hour(&p, None), 0.95);
        assert_eq!(gpu_hour(&p, Some("NVIDIA-L4")), 0.7);
        assert_eq!(gpu_hour(&p, Some("Tesla-T4")), 0.95);
        assert_eq!(gpu_hour(&p, Some("NVIDIA-A100-SXM4-80GB-MIG-2g.20gb")), 1.0);
        assert_eq!(
            gpu_hour(&p, Some("NVIDIA-A100-SXM4-80GB-MIG-1g.10gb")),
            3.5 / 7.0
        );
    }

    #[test]
    fn mig_prices() {
        let p = prices();
        assert_eq!(mig_slice_hour(&p, "2g.20gb", None), 1.0);
        assert_eq!(
            mig_slice_hour(&p, "3g.40gb", Some("NVIDIA-A100-SXM4-80GB")),
            1.5
        );
        assert_eq!(mig_slice_hour(&p, "1g.5gb", None), 0.95 / 7.0);
        assert_eq!(mig_slice_hour(&p, "7g.80gb", None), 0.95);
        assert_eq!(mig_fraction(&p, "1g.5gb+me"), 1.0 / 7.0);
        assert_eq!(mig_fraction(&p, "weird"), 1.0);
        assert_eq!(mig_fraction(&p, "0g.5gb"), 1.0);
        let four = Prices {
            mig_compute_slices: 4,
            ..Prices::default()
        };
        assert_eq!(mig_fraction(&four, "2g.12gb"), 0.5);
        assert_eq!(mig_fraction(&four, "7g.80gb"), 1.0);
    }

    #[test]
    fn dearest_product() {
        let p = prices();
        assert_eq!(dearest(&p, &[]), (0.95, None));
        let both = ["NVIDIA-L4".to_owned(), "NVIDIA-A100-SXM4-80GB".to_owned()];
        assert_eq!(dearest(&p, &both), (3.5, Some("NVIDIA-A100-SXM4-80GB")));
        let cheap = ["NVIDIA-L4".to_owned()];
        assert_eq!(dearest(&p, &cheap), (0.7, Some("NVIDIA-L4")));
    }
}
