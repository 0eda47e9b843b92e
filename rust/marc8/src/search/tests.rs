use super::*;
use crate::model::{Field, Subfield};

fn data(tag: &str, subs: &[(char, &str)]) -> Field {
    Field {
        tag: tag.to_owned(),
        data: FieldData::Data {
            ind1: ' ',
            ind2: ' ',
            subfields: subs
                .iter()
                .map(|(c, v)| Subfield {
                    code: *c,
                    value: (*v).to_owned(),
                })
                .collect(),
        },
    }
}

fn control(tag: &str, s: &str) -> Field {
    Field {
        tag: tag.to_owned(),
        data: FieldData::Control(s.to_owned()),
    }
}

#[test]
fn folding() {
    assert_eq!(
        words("Ça ira! Les Misérables, vol. 2"),
        ["ca", "ira", "les", "miserables", "vol", "2"]
    );
    assert_eq!(
        words("Łódź / Øresund Æsir STRASSE Straße"),
        ["lodz", "oresund", "aesir", "strasse", "strasse"]
    );
    assert_eq!(words("ﬁne-tuned"), ["finetuned"]);
    assert_eq!(
        index_words("ﬁne-tuned"),
        set(&["fine", "tuned", "finetuned"])
    );
    assert!(words(" -- ").is_empty());
}

#[test]
fn numbers() {
    assert_eq!(oclc_number("(OCoLC)ocm00012345 ").as_deref(), Some("12345"));
    assert_eq!(oclc_number("(ocolc)555").as_deref(), Some("555"));
    assert_eq!(oclc_number("on1234").as_deref(), Some("1234"));
    assert_eq!(oclc_number("000"), None);
    assert_eq!(oclc_number("12a"), None);
    assert_eq!(oclc_number("١٢"), None); // Arabic-Indic digits are not an OCLC number
    assert_eq!(
        isbns("0-19-852663-6 (pbk.)"),
        ["0198526636", "9780198526636"]
    );
    assert_eq!(isbns("9780198526636"), ["9780198526636", "0198526636"]);
    assert_eq!(isbns("080442957x"), ["080442957X", "9780804429573"]);
    assert_eq!(isbns("979-10-90636-07-1"), ["9791090636071"]);
    assert!(isbns("pbk.").is_empty());
    assert!(isbns("12345").is_empty());
    assert_eq!(issn("0317-8471").as_deref(), Some("03178471"));
    assert_eq!(issn("1234-567x (print)").as_deref(), Some("1234567X"));
    assert_eq!(issn("1234-56789"), None);
    assert_eq!(issn("12"), None);
}

#[test]
fn terms_of_a_record() {
    let rec = Record {
        leader: *b"00000nam a2200000 a 4500",
        fields: vec![
            control("001", "ocm00012345"),
            data("100", &[('a', "Hugo, Victor,"), ('e', "author.")]),
            data("245", &[('a', "Les misérables /"), ('c', "Victor Hugo.")]),
            data("020", &[('a', "0-19-852663-6")]),
            data("019", &[('a', "999")]),
            data("035", &[('a', "(OCoLC)77"), ('a', "(DLC)88")]),
            data("650", &[('a', "Paris (France)"), ('2', "lcsh")]),
        ],
    };
    let t = index_terms(&rec);
    let set = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
    assert_eq!(t.title, set(&["les", "miserables"]));
    assert_eq!(t.author, set(&["hugo", "victor"]));
    assert_eq!(t.subject, set(&["france", "paris"]));
    assert_eq!(t.isbn, set(&["0198526636", "9780198526636"]));
    assert_eq!(t.oclc, set(&["12345", "77", "999"]));
    assert!(t.issn.is_empty());
    let (mut problems, mut raw) = (Vec::new(), Vec::new());
    assert!(rec.to_iso2709(
        crate::record::Target::Utf8,
        crate::EncodeErrors::Lossless,
        1,
        0,
        &mut raw,
        &mut problems
    ));
    assert_eq!(index_terms_of_utf8(&raw), Some(t));
    assert_eq!(index_terms_of_utf8(b"garbage"), None);
}

#[test]
fn an_001_is_an_oclc_number_only_when_it_says_so() {
    let plain = Record {
        leader: *b"00000nam a2200000 a 4500",
        fields: vec![control("001", "12345")],
    };
    assert!(index_terms(&plain).oclc.is_empty());
    let mut with_003 = plain.clone();
    with_003.fields.push(control("003", "OCoLC"));
    assert_eq!(index_terms(&with_003).oclc.len(), 1);
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn index_words(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for_each_word(text, |w| {
        out.insert(w.to_owned());
    });
    out
}

#[test]
fn truncation_marks_the_last_term_of_a_word() {
    assert_eq!(query_terms("hobb*"), [("hobb".to_owned(), true)]);
    assert_eq!(
        query_terms("The HOBB* x"),
        [
            ("the".to_owned(), false),
            ("hobb".to_owned(), true),
            ("x".to_owned(), false)
        ]
    );
    assert_eq!(query_terms("Москв*"), [("москв".to_owned(), true)]);
    assert_eq!(query_terms("Dvoř*"), [("dvor".to_owned(), true)]);
    assert_eq!(query_terms("co-op*"), [("coop".to_owned(), true)]);
    // A * elsewhere separates words; a lone * is no term.
    assert_eq!(query_terms("*bit"), [("bit".to_owned(), false)]);
    assert!(query_terms(" * ").is_empty());
    // The last bigram of a CJK run is the prefix.
    assert_eq!(
        query_terms("浙东文*"),
        [("浙东".to_owned(), false), ("东文".to_owned(), true)]
    );
}

#[test]
fn hyphens_and_apostrophes_join() {
    assert_eq!(
        index_words("Co-operation"),
        set(&["co", "operation", "cooperation"])
    );
    assert_eq!(index_words("O’Brien"), set(&["o", "brien", "obrien"]));
    assert_eq!(words("co-operation"), ["cooperation"]);
    assert_eq!(words("e-mail"), words("email"));
    assert_eq!(words("o'brien"), words("OBrien"));
    assert_eq!(words("Gorʹkiĭ"), ["gorkii"]);
    assert_eq!(words("Qurʼān"), ["quran"]);
    // A hyphen or apostrophe not between letters separates nothing and joins nothing.
    assert_eq!(words("- x - 'y' z-"), ["x", "y", "z"]);
    // Every query term of a text is among its index terms.
    for text in ["co-operation", "O'Brien's e-mail", "浙东-文化", "a--b"] {
        let index = index_words(text);
        for w in words(text) {
            assert!(index.contains(&w), "{text}: {w} not in {index:?}");
        }
    }
}

#[test]
fn greek_final_sigma() {
    assert_eq!(words("ΟΔΥΣΣΕΥΣ"), words("Οδυσσεύς"));
    assert_eq!(words("Οδυσσεύς"), ["οδυσσευσ"]);
}

#[test]
fn cjk_runs_are_bigrams() {
    assert_eq!(
        index_words("浙东文化研究"),
        set(&["浙东", "东文", "文化", "化研", "研究"])
    );
    assert_eq!(words("浙东"), ["浙东"]);
    assert_eq!(words("文"), ["文"]);
    // Kana and mixed scripts: the Latin part stays a word.
    assert_eq!(
        index_words("ひらがなカタカナ漢字abc"),
        set(&[
            "ひら", "らが", "がな", "なカ", "カタ", "タカ", "カナ", "ナ漢", "漢字", "abc"
        ])
    );
    // Hangul: syllables, not jamo; decomposed jamo compose first.
    assert_eq!(words("한국어"), ["한국", "국어"]);
    assert_eq!(
        words("\u{1112}\u{1161}\u{11AB}\u{1100}\u{116E}\u{11A8}"),
        ["한국"]
    );
    // Half-width katakana folds to full width.
    assert_eq!(words("ｶﾀｶﾅ"), words("カタカナ"));
}

#[test]
fn isbn_labels_and_check_digits() {
    assert_eq!(isbns("ISBN 0-12-601720-4"), ["0126017204", "9780126017205"]);
    assert_eq!(isbns("isbn-13: 978-0-12-601720-5")[0], "9780126017205");
    assert_eq!(isbn_problem("ISBN 0-12-601720-4"), None);
    assert_eq!(isbn_problem("080442957x"), None);
    assert_eq!(isbn_problem("9780126017205"), None);
    let bad = isbn_problem("0-12-601720-5").unwrap();
    assert!(bad.contains("should be 4"), "{bad}");
    assert!(isbn_problem("978-0-12-601720-6")
        .unwrap()
        .contains("should be 5"));
    assert!(isbn_problem("12345").unwrap().contains("5 digits"));
    assert_eq!(isbn_problem("pbk."), None);
}

#[test]
fn an_880_is_indexed_as_its_linked_field() {
    let rec = Record {
        leader: *b"00000nam a2200000 a 4500",
        fields: vec![
            data("245", &[('6', "880-01"), ('a', "Zhedong wen hua")]),
            data("880", &[('6', "245-01/$1"), ('a', "浙东文化 /")]),
            data("880", &[('6', "100-02/$1"), ('a', "王明")]),
            data("880", &[('6', "650-03/$1"), ('a', "历史")]),
            data("880", &[('6', "020-04"), ('a', "0-19-852663-6")]),
            data("880", &[('a', "没有")]),
        ],
    };
    let t = index_terms(&rec);
    assert!(t.title.contains("浙东") && t.title.contains("zhedong"));
    assert!(t.author.contains("王明"));
    assert!(t.subject.contains("历史"));
    assert!(t.isbn.is_empty(), "an 880 is not a number");
    assert!(!t.title.contains("没有"));
}

fn with_ind2(tag: &str, ind2: char, subs: &[(char, &str)]) -> Field {
    let mut f = data(tag, subs);
    if let FieldData::Data { ind2: i, .. } = &mut f.data {
        *i = ind2;
    }
    f
}

#[test]
fn title_keys_fold_like_search() {
    let key = |fields: Vec<Field>| match_keys(&fields).title_key;
    let hobbit = key(vec![
        data("100", &[('a', "Tolkien, J. R. R.")]),
        with_ind2("245", '4', &[('a', "The hobbit /"), ('c', "Tolkien")]),
    ]);
    let plain = key(vec![
        data("100", &[('a', "TOLKIEN, J.R.R.")]),
        with_ind2("245", '0', &[('a', "Hobbit")]),
    ]);
    assert_eq!(hobbit.as_deref(), Some("hobbit/tolkienjrr"));
    assert_eq!(hobbit, plain);
    assert_eq!(
        key(vec![data("245", &[('a', "Łódź"), ('b', "Straße")])]),
        key(vec![data("245", &[('a', "Lodz"), ('b', "Strasse")])])
    );
    assert_eq!(
        key(vec![data("245", &[('a', "Gorʹkiĭ, Qurʼān")])]),
        key(vec![data("245", &[('a', "Gorkii Quran")])])
    );
    assert_eq!(
        key(vec![data("245", &[('a', "Œuvres")])]),
        key(vec![data("245", &[('a', "Oeuvres")])])
    );
    // A nonfiling count longer than the title keeps the title whole.
    assert_eq!(
        key(vec![with_ind2("245", '9', &[('a', "Ab")])]).as_deref(),
        Some("ab/")
    );
    assert_eq!(key(vec![data("245", &[('a', " / ")])]), None);
    assert_eq!(key(vec![data("100", &[('a', "X")])]), None);
}

#[test]
fn oclc_numbers_of_the_duplicate_check() {
    let fields = vec![
        control("001", "ocm777"),
        data("019", &[('a', "12"), ('a', "777")]),
        data("035", &[('a', "(ocolc)0013"), ('a', "(DLC)99")]),
        data("035", &[('a', "(OCoLC)12")]),
    ];
    assert_eq!(match_keys(&fields).oclc, ["777", "12", "13"]);
}

fn arb_text() -> impl proptest::strategy::Strategy<Value = String> {
    proptest::string::string_regex(
        "[ a-zA-Z0-9'*-]{0,6}|[ ŁłØøßẞŒœÆæςΣσ’ʹ -]{0,6}|[浙东文化ひらカタ한국 ]{0,6}|\\PC{0,6}",
    )
    .unwrap()
}

proptest::proptest! {
    /// The key's folding is search's: outside CJK (looked up by bigrams), a text's key text
    /// is its query words run together.
    #[test]
    fn key_text_is_the_query_words_run_together(text in arb_text()) {
        if !text.chars().any(is_cjk) && !fold(&text).chars().any(is_cjk) {
            proptest::prop_assert_eq!(key_text(&text), words(&text).concat());
        }
    }

    /// For any record, the importer's match keys are among the search index terms, and
    /// searching the key's title and author text (as a query folds it) finds the record.
    #[test]
    fn match_keys_agree_with_the_index(
        parts in proptest::collection::vec(
            (0usize..8, arb_text(), arb_text(), proptest::char::range('0', '9')),
            0..8,
        )
    ) {
        let tags = ["001", "003", "019", "035", "100", "110", "130", "245"];
        let fields: Vec<Field> = parts
            .iter()
            .map(|(t, a, b, ind2)| match tags[*t] {
                "001" => control("001", &format!("ocm{}", a.len())),
                "003" => control("003", "OCoLC"),
                "035" => data("035", &[('a', &format!("(oCoLc){}", b.len() + 1))]),
                "019" => data("019", &[('a', &format!("{}", a.len() + 7))]),
                tag => with_ind2(tag, *ind2, &[('a', a), ('b', b), ('c', "x")]),
            })
            .collect();
        let rec = Record { leader: *b"00000nam a2200000 a 4500", fields };
        let keys = match_keys(&rec.fields);
        let terms = index_terms(&rec);
        for n in &keys.oclc {
            proptest::prop_assert!(terms.oclc.contains(n));
        }
        proptest::prop_assert_eq!(keys.oclc.len(), terms.oclc.len());
        if let Some(key) = &keys.title_key {
            let f245 = rec.fields.iter().find(|f| f.tag == "245").unwrap();
            let FieldData::Data { ind2, subfields, .. } = &f245.data else { unreachable!() };
            let title = filing_title(*ind2, subfields);
            let head = format!("{}/", key_text(&title));
            proptest::prop_assert!(key.starts_with(&head), "{} {}", key, head);
            for (i, w) in words(&title).into_iter().enumerate() {
                // A nonfiling count that ends inside a word leaves the word's tail.
                let tail = i == 0 && *ind2 != '0' && terms.title.iter().any(|t| t.ends_with(&w));
                proptest::prop_assert!(
                    terms.title.contains(&w) || tail, "{} not in {:?}", w, terms.title
                );
            }
            let main = rec.fields.iter().find(|f| f.tag.starts_with('1'));
            if let Some(FieldData::Data { subfields, .. }) = main.map(|f| &f.data) {
                for w in words(&subfields[0].value) {
                    proptest::prop_assert!(
                        terms.author.contains(&w) || terms.title.contains(&w),
                        "{} not in the author or title terms", w
                    );
                }
            }
        }
    }
}
