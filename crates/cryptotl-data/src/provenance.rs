//! Guarding against pretraining and evaluating on sibling data sets.

use std::collections::HashSet;

use crate::catalog::DatasetId;
use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::text::dedup_key;

/// Refuses a pretraining / target pair from the same provenance family.
///
/// Texts of one family (see [`DatasetId::family`]) come from the same site
/// or corpus lineage — Rotten Tomatoes snippets and UCI IMDB are both
/// movie reviews from the Pang & Lee / IMDB web — so a model pretrained on
/// one would be evaluated on near-in-distribution data on the other, which
/// inflates transfer results. Data sets without a family (user data) are
/// not checked. Splits keep the family of their parent.
///
/// # Errors
/// [`DataError::ProvenanceConflict`] when both data sets have the same
/// family.
pub fn check_disjoint_provenance(pretrain: &Dataset, target: &Dataset) -> Result<()> {
    match (pretrain.family(), target.family()) {
        (Some(a), Some(b)) if a == b => Err(DataError::ProvenanceConflict {
            pretrain: pretrain.name().to_owned(),
            target: target.name().to_owned(),
            family: a.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// [`check_disjoint_provenance`] on catalog ids, for checking a plan before
/// anything is downloaded: every pretraining set against the target.
///
/// # Errors
/// [`DataError::ProvenanceConflict`] for the first pretraining set that
/// shares the target's family.
pub fn check_disjoint_ids(pretrain: &[DatasetId], target: DatasetId) -> Result<()> {
    match pretrain.iter().find(|id| id.family() == target.family()) {
        Some(id) => Err(DataError::ProvenanceConflict {
            pretrain: id.name().to_owned(),
            target: target.name().to_owned(),
            family: target.family().to_owned(),
        }),
        None => Ok(()),
    }
}

/// Number of distinct texts (by [`dedup_key`]) that occur in both data
/// sets: a direct measure of overlap, complementing the family check.
pub fn shared_text_count(a: &Dataset, b: &Dataset) -> usize {
    let keys: HashSet<String> = a.texts().iter().map(|t| dedup_key(t)).collect();
    b.texts()
        .iter()
        .map(|t| dedup_key(t))
        .collect::<HashSet<_>>()
        .intersection(&keys)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged(name: &str, family: Option<&str>) -> Dataset {
        Dataset::new(name, vec!["x".into()], vec![0], vec!["c".into()])
            .unwrap()
            .with_family(family.map(str::to_owned))
    }

    #[test]
    fn same_family_is_refused() {
        let tweets = tagged("vader-tweets", Some("vader-hutto-2014"));
        let amazon = tagged("vader-amazon/test", Some("vader-hutto-2014"));
        let err = check_disjoint_provenance(&tweets, &amazon).unwrap_err();
        assert!(err.to_string().contains("vader-hutto-2014"), "{err}");
    }

    #[test]
    fn other_or_unknown_family_is_allowed() {
        let rt = tagged("rotten-tomatoes", Some("pang-lee"));
        assert!(check_disjoint_provenance(&rt, &tagged("uci-imdb", Some("maas-imdb"))).is_ok());
        assert!(check_disjoint_provenance(&rt, &tagged("mine", None)).is_ok());
    }

    #[test]
    fn shared_texts_are_counted_once() {
        let a = Dataset::new(
            "a",
            vec!["Great!".into(), "great".into(), "bad".into()],
            vec![0, 0, 0],
            vec!["c".into()],
        )
        .unwrap();
        let b = Dataset::new(
            "b",
            vec!["GREAT.".into(), "fine".into()],
            vec![0, 0],
            vec!["c".into()],
        )
        .unwrap();
        assert_eq!(shared_text_count(&a, &b), 1);
        assert_eq!(shared_text_count(&b, &a), 1);
    }

    #[test]
    fn ids_are_checked_before_download() {
        // The bundled demo pair is admissible: different corpora.
        assert!(check_disjoint_ids(&[DatasetId::RottenTomatoes], DatasetId::UciImdb).is_ok());
        let pretrain = [DatasetId::VaderTweets, DatasetId::CrowdFlower];
        assert!(check_disjoint_ids(&pretrain, DatasetId::VaderAmazon).is_err());
        assert!(check_disjoint_ids(&pretrain, DatasetId::CrowdFlower).is_err());
        assert!(check_disjoint_ids(&pretrain, DatasetId::UciYelp).is_ok());
        assert!(check_disjoint_ids(&pretrain, DatasetId::SmsSpam).is_ok());
    }
}
