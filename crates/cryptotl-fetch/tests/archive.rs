//! Extraction of zip, tar and tar.gz archives built in the tests: exact
//! bytes, no escape from the destination, damaged archives are errors.

mod common;

use std::fs;
use std::io::ErrorKind;

use common::{archive_bytes, files_under, names, tar_bytes, write, zip_bytes};
use cryptotl_fetch::{
    join_members, Archive, ArchiveFormat, FetchError, Member, Piece, Sha256Digest,
};
use proptest::prelude::*;

const FORMATS: [ArchiveFormat; 3] = [ArchiveFormat::Zip, ArchiveFormat::Tar, ArchiveFormat::TarGz];

fn format_strategy() -> impl Strategy<Value = ArchiveFormat> {
    prop::sample::select(FORMATS.to_vec())
}

/// 1 to 6 members with distinct plain names and arbitrary contents.
fn members_strategy() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    prop::collection::btree_map(
        "[a-z]{1,8}(/[a-z0-9_.-]{1,8}){0,2}",
        prop::collection::vec(any::<u8>(), 0..3000),
        1..6,
    )
    .prop_map(|map| {
        map.into_iter()
            // Names that are a directory of another name cannot both be files.
            .filter(|(name, _)| !name.ends_with('.') && !name.contains("/."))
            .collect::<Vec<_>>()
    })
    .prop_filter("non-empty, no file/dir clash", |members| {
        !members.is_empty()
            && members.iter().all(|(a, _)| {
                members
                    .iter()
                    .all(|(b, _)| !b.starts_with(&format!("{a}/")))
            })
    })
}

fn fixed_outputs(members: &[(String, Vec<u8>)]) -> Vec<Member> {
    members
        .iter()
        .enumerate()
        .map(|(i, (name, _))| Member::exact(name.clone(), format!("out/{i}.bin")))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Extraction returns exactly the members' bytes, under the fixed
    /// output names, and nothing else is written.
    #[test]
    fn extraction_returns_exactly_the_members(
        format in format_strategy(),
        members in members_strategy(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "archive", &archive_bytes(format, &members));
        prop_assert_eq!(ArchiveFormat::detect(&path).unwrap(), format);
        let archive = Archive::open(&path).unwrap();
        let dest = dir.path().join("dest");
        fs::create_dir(&dest).unwrap();

        let wanted = fixed_outputs(&members);
        let files = archive.extract(&wanted, &dest).unwrap();
        prop_assert_eq!(files.len(), members.len());
        for (i, (file, (name, data))) in files.iter().zip(&members).enumerate() {
            prop_assert_eq!(&file.member, name);
            prop_assert_eq!(&file.path, &format!("out/{i}.bin"));
            prop_assert_eq!(file.bytes, data.len() as u64);
            prop_assert_eq!(file.sha256, Sha256Digest::of_bytes(data));
            prop_assert_eq!(&fs::read(dest.join(&file.path)).unwrap(), data);
        }
        prop_assert_eq!(files_under(&dest).len(), members.len());

        let listed = archive.list().unwrap();
        let expected: Vec<(String, u64)> =
            members.iter().map(|(n, d)| (n.clone(), d.len() as u64)).collect();
        prop_assert_eq!(listed, expected);

        // Selecting by name, keeping the (plain) member paths.
        let dest2 = dir.path().join("dest2");
        fs::create_dir(&dest2).unwrap();
        let files = archive
            .extract_selected(&mut |name| Some(name.to_owned()), &dest2)
            .unwrap();
        prop_assert_eq!(files.len(), members.len());
        for (name, data) in &members {
            prop_assert_eq!(&fs::read(dest2.join(name)).unwrap(), data);
        }
    }

    /// Hostile member names (`..`, absolute, backslashes) never produce a
    /// file outside the destination, whatever the selector returns.
    #[test]
    fn hostile_names_never_escape(
        format in format_strategy(),
        hostile in prop::sample::select(vec![
            "../evil", "../../evil", "a/../../evil", "/tmp/evil", "/evil",
            "..\\evil", "a/./../evil", "./../evil", "a//../evil", "C:\\evil",
        ]),
        data in prop::collection::vec(any::<u8>(), 0..100),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let members = vec![
            (hostile.to_owned(), data.clone()),
            ("fine.txt".to_owned(), b"fine".to_vec()),
        ];
        let path = write(dir.path(), "archive", &archive_bytes(format, &members));
        let archive = Archive::new(&path, format);
        let dest = dir.path().join("deep").join("dest");
        fs::create_dir_all(&dest).unwrap();

        // The archive path as output name is refused.
        let err = archive
            .extract_selected(&mut |name| Some(name.to_owned()), &dest)
            .unwrap_err();
        let is_unsafe_output = matches!(err, FetchError::UnsafeOutputName { .. });
        prop_assert!(is_unsafe_output, "{}", err);

        // Asked for by name, the member goes to its fixed output name only.
        let files = archive
            .extract(&[Member::exact(hostile, "fixed.bin")], &dest)
            .unwrap();
        prop_assert_eq!(&files[0].member, hostile);
        prop_assert_eq!(fs::read(dest.join("fixed.bin")).unwrap(), data);

        // Nothing anywhere outside `dest`, except the archive itself.
        for file in files_under(dir.path()) {
            prop_assert!(file.starts_with(&dest) || file == path, "{}", file.display());
        }
    }

    /// Any strict prefix of a zip or tar.gz archive is an error (never a
    /// panic); a tar cut before the end of its last member's data too.
    #[test]
    fn truncated_archives_are_errors(
        format in format_strategy(),
        members in members_strategy(),
        cut in any::<prop::sample::Index>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let bytes = archive_bytes(format, &members);
        let len = cut.index(bytes.len());
        let path = write(dir.path(), "archive", &bytes[..len]);
        let archive = Archive::new(&path, format);
        let dest = dir.path().join("dest");
        fs::create_dir(&dest).unwrap();
        let result = archive.extract(&fixed_outputs(&members), &dest);
        // A tar ends with two 512-byte zero blocks; cutting into them loses
        // no data.
        let must_fail = format != ArchiveFormat::Tar || len < bytes.len() - 1024;
        match result {
            Err(err) => {
                let expected_kind = matches!(
                    err,
                    FetchError::Zip { .. } | FetchError::Corrupt { .. }
                );
                prop_assert!(expected_kind, "{}", err);
            }
            Ok(files) => {
                prop_assert!(!must_fail, "a prefix of {} of {} bytes was accepted", len, bytes.len());
                for (file, (_, data)) in files.iter().zip(&members) {
                    prop_assert_eq!(&fs::read(dest.join(&file.path)).unwrap(), data);
                }
            }
        }
        prop_assert!(archive.list().is_err() || !must_fail);
    }

    /// A flipped byte in a zip or tar.gz is an error or changes nothing:
    /// never a panic, never wrong bytes (CRCs are checked).
    #[test]
    fn corrupted_archives_never_give_wrong_bytes(
        format in prop::sample::select(vec![ArchiveFormat::Zip, ArchiveFormat::TarGz]),
        members in members_strategy(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = archive_bytes(format, &members);
        let i = at.index(bytes.len());
        bytes[i] ^= flip;
        let path = write(dir.path(), "archive", &bytes);
        let dest = dir.path().join("dest");
        fs::create_dir(&dest).unwrap();
        if let Ok(files) = Archive::new(&path, format).extract(&fixed_outputs(&members), &dest) {
            for (file, (_, data)) in files.iter().zip(&members) {
                prop_assert_eq!(&fs::read(dest.join(&file.path)).unwrap(), data);
            }
        }
    }

    /// A file split at arbitrary points over several archives is joined
    /// back exactly, with its digest.
    #[test]
    fn split_files_are_joined_exactly(
        data in prop::collection::vec(any::<u8>(), 0..20_000),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..5),
        formats in prop::collection::vec(format_strategy(), 6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
        points.push(0);
        points.push(data.len());
        points.sort_unstable();
        let mut pieces = Vec::new();
        for (i, pair) in points.windows(2).enumerate() {
            let member = format!("part_{i}/input/file.zip.{:03}", i + 1);
            let members = vec![
                (format!("part_{i}/__init__.py"), Vec::new()),
                (member.clone(), data[pair[0]..pair[1]].to_vec()),
            ];
            let path = write(dir.path(), &format!("part{i}"), &archive_bytes(formats[i], &members));
            pieces.push(Piece { archive: Archive::open(&path).unwrap(), member });
        }
        let joined = dir.path().join("joined.zip");
        let digest = join_members(&pieces, &joined).unwrap();
        prop_assert_eq!(digest, Sha256Digest::of_bytes(&data));
        prop_assert_eq!(fs::read(&joined).unwrap(), data);
    }
}

#[test]
fn missing_and_duplicate_members_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let members = vec![
        ("pkg/model/config.json".to_owned(), b"{}".to_vec()),
        ("pkg/model/1_Pooling/config.json".to_owned(), b"[]".to_vec()),
    ];
    for format in FORMATS {
        let path = write(dir.path(), "a", &archive_bytes(format, &members));
        let archive = Archive::new(&path, format);
        let dest = tempfile::tempdir().unwrap();
        let err = archive
            .extract(
                &[
                    Member::suffix("pkg/model/config.json", "config.json"),
                    Member::suffix("pkg/model/weights.bin", "weights.bin"),
                ],
                dest.path(),
            )
            .unwrap_err();
        match err {
            FetchError::MissingMember { member, archive } => {
                assert_eq!(member, "pkg/model/weights.bin");
                assert_eq!(archive, path);
            }
            other => panic!("expected a missing member, got {other}"),
        }
        // Two members with one output name are refused before writing.
        let dest = tempfile::tempdir().unwrap();
        let err = archive
            .extract(
                &[
                    Member::exact("pkg/model/config.json", "x"),
                    Member::exact("pkg/model/1_Pooling/config.json", "x"),
                ],
                dest.path(),
            )
            .unwrap_err();
        assert!(matches!(err, FetchError::DuplicateMember { .. }), "{err}");
        assert!(names(dest.path()).is_empty());
        // A suffix that matches two members is ambiguous.
        let err = archive
            .extract(&[Member::suffix("config.json", "c")], dest.path())
            .unwrap_err();
        assert!(matches!(err, FetchError::DuplicateMember { .. }), "{err}");
    }
    // A repeated tar entry.
    let path = write(
        dir.path(),
        "dup.tar",
        &tar_bytes(&[
            ("a".to_owned(), b"1".to_vec()),
            ("a".to_owned(), b"2".to_vec()),
        ]),
    );
    let dest = tempfile::tempdir().unwrap();
    let err = Archive::new(&path, ArchiveFormat::Tar)
        .copy_member("a", &mut Vec::new(), dest.path())
        .unwrap_err();
    assert!(matches!(err, FetchError::DuplicateMember { .. }), "{err}");
}

#[test]
fn oversized_members_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let members = vec![("big".to_owned(), vec![7u8; 10_000])];
    for format in FORMATS {
        let path = write(dir.path(), "a", &archive_bytes(format, &members));
        let dest = tempfile::tempdir().unwrap();
        let err = Archive::new(&path, format)
            .with_max_member_bytes(9_999)
            .extract(&[Member::exact("big", "big")], dest.path())
            .unwrap_err();
        assert!(
            matches!(err, FetchError::MemberTooLarge { limit: 9_999, .. }),
            "{err}"
        );
        assert!(names(dest.path()).is_empty(), "partial output left");
        Archive::new(&path, format)
            .with_max_member_bytes(10_000)
            .extract(&[Member::exact("big", "big")], dest.path())
            .unwrap();
    }
}

#[test]
fn existing_outputs_are_never_overwritten_or_followed() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "a.zip",
        &zip_bytes(&[("a".to_owned(), b"new".to_vec())]),
    );
    let dest = dir.path().join("dest");
    fs::create_dir(&dest).unwrap();
    let outside = write(dir.path(), "outside", b"old");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&outside, dest.join("link")).unwrap();
    #[cfg(not(unix))]
    fs::write(dest.join("link"), b"old").unwrap();
    let err = Archive::new(&path, ArchiveFormat::Zip)
        .extract(&[Member::exact("a", "link")], &dest)
        .unwrap_err();
    match err {
        FetchError::Io { source, .. } => assert_eq!(source.kind(), ErrorKind::AlreadyExists),
        other => panic!("expected an I/O error, got {other}"),
    }
    assert_eq!(fs::read(&outside).unwrap(), b"old");
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "junk", b"definitely not an archive");
    assert!(matches!(
        Archive::open(&path),
        Err(FetchError::UnknownFormat { .. })
    ));
    for format in FORMATS {
        let err = Archive::new(&path, format).list().unwrap_err();
        assert!(
            matches!(err, FetchError::Zip { .. } | FetchError::Corrupt { .. }),
            "{format:?}: {err}"
        );
    }
}

#[test]
fn a_joined_file_is_removed_when_a_piece_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "p.zip",
        &zip_bytes(&[("part/input/x.001".to_owned(), b"abc".to_vec())]),
    );
    let joined = dir.path().join("joined.zip");
    let pieces = [
        Piece {
            archive: Archive::new(&path, ArchiveFormat::Zip),
            member: "part/input/x.001".into(),
        },
        Piece {
            archive: Archive::new(&path, ArchiveFormat::Zip),
            member: "part/input/elsewhere.002".into(),
        },
    ];
    match join_members(&pieces, &joined).unwrap_err() {
        FetchError::MissingMember { member, .. } => assert_eq!(member, "part/input/elsewhere.002"),
        other => panic!("expected a missing member, got {other}"),
    }
    assert!(!joined.exists());
}

#[test]
fn a_tar_cut_at_a_block_boundary_is_truncated() {
    // The tar crate reads a stream that ends where a header should start as
    // a complete archive; without the end-of-archive marker it is not.
    let dir = tempfile::tempdir().unwrap();
    let members = vec![
        ("a".to_owned(), vec![1u8; 700]),
        ("b".to_owned(), vec![2u8; 10]),
    ];
    let bytes = tar_bytes(&members);
    let data_end = bytes.len() - 1024;
    for len in (0..=data_end).step_by(512) {
        let path = write(dir.path(), "cut.tar", &bytes[..len]);
        for result in [
            Archive::new(&path, ArchiveFormat::Tar).list().map(|_| ()),
            Archive::new(&path, ArchiveFormat::Tar)
                .copy_member("a", &mut Vec::new(), &path)
                .map(|_| ()),
        ] {
            match result {
                Err(FetchError::Corrupt { source, .. }) => {
                    assert_eq!(source.kind(), ErrorKind::UnexpectedEof, "cut at {len}")
                }
                other => panic!("cut at {len}: expected a truncation error, got {other:?}"),
            }
        }
    }
    // One zero block is enough to end the archive.
    let path = write(dir.path(), "short-end.tar", &bytes[..data_end + 512]);
    assert_eq!(
        Archive::new(&path, ArchiveFormat::Tar).list().unwrap(),
        vec![("a".to_owned(), 700), ("b".to_owned(), 10)]
    );
}
