//! A report's differing rows through the router: filtered by kind and by changed column, paged,
//! as CSV of the current filter and as the Parquet export; and a table's page: the columns that
//! differed lately, its registration edited by an operator (a broken one refused with its text
//! kept) and unregistered by an admin only.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, ListBuilder, RecordBatch, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use axum::http::{StatusCode, header};

use crate::pages::{get, post_form, sign_in, stored_report, stored_report_with};
use crate::rest::{ADMIN, Harness, OPERATOR, VIEWER};

/// An export as the verifier writes it: 3 changed rows (two in `email`, one in `email` and
/// `name`), one row only in the baseline and one only in the candidate.
fn write_export(path: &std::path::Path) {
    let kinds = ["changed", "changed", "changed", "only_in_baseline", "only_in_candidate"];
    let mut changed = ListBuilder::new(StringBuilder::new());
    for columns in [&["email"][..], &["email", "name"], &["name"], &[], &[]] {
        changed.append_value(columns.iter().map(|c| Some(*c)));
    }
    let text = |values: [Option<&str>; 5]| Arc::new(StringArray::from(values.to_vec())) as ArrayRef;
    let ids = |values: [Option<i64>; 5]| Arc::new(Int64Array::from(values.to_vec())) as ArrayRef;
    let schema = Arc::new(Schema::new(vec![
        Field::new("kind", DataType::Utf8, false),
        Field::new("changed_columns", DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))), false),
        Field::new("baseline_id", DataType::Int64, true),
        Field::new("baseline_email", DataType::Utf8, true),
        Field::new("baseline_name", DataType::Utf8, true),
        Field::new("candidate_id", DataType::Int64, true),
        Field::new("candidate_email", DataType::Utf8, true),
        Field::new("candidate_name", DataType::Utf8, true),
    ]));
    let columns = vec![
        Arc::new(StringArray::from(kinds.to_vec())) as ArrayRef,
        Arc::new(changed.finish()),
        ids([Some(1), Some(2), Some(3), Some(4), None]),
        text([Some("a@x"), Some("b@x"), Some("c@x"), Some("d@x"), None]),
        text([Some("Ann"), Some("Bo, \"B\""), Some("Cy"), Some("Di"), None]),
        ids([Some(1), Some(2), Some(3), None, Some(5)]),
        text([Some("a@y"), Some("b@y"), Some("c@x"), None, Some("e@x")]),
        text([Some("Ann"), Some("Bob"), Some("Cyd"), None, Some("Ed")]),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

#[tokio::test]
async fn the_rows_page_filters_by_kind_and_column_pages_and_gives_the_filter_as_csv() {
    let harness = Harness::start("").await;
    let export = harness.root.join("export.parquet");
    write_export(&export);
    let id = stored_report_with(&harness, "dw.changed", Some(export.display().to_string())).await;
    let rows = format!("/reports/{id}/rows");
    let (status, headers, _) = get(&harness, &rows, &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "no session: the sign-in page");
    assert!(headers[header::LOCATION].to_str().unwrap().starts_with("/login"));

    let (_, viewer) = sign_in(&harness, VIEWER).await;
    let cookie = [("cookie", viewer.as_str())];
    let (status, _, page) = get(&harness, &rows, &cookie).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Rows 1 to 5 of 5."), "{page}");
    let (_, _, changed) = get(&harness, &format!("{rows}?kind=changed"), &cookie).await;
    assert!(changed.contains("Rows 1 to 3 of 3.") && changed.contains(r#"<option value="changed" selected>"#));
    let (_, _, email) = get(&harness, &format!("{rows}?column=email"), &cookie).await;
    assert!(email.contains("Rows 1 to 2 of 2."), "{email}");
    let (_, _, paged) = get(&harness, &format!("{rows}?kind=changed&limit=2&offset=2"), &cookie).await;
    assert!(paged.contains("Rows 3 to 3 of 3.") && paged.contains("offset=0&#38;kind=changed&#38;limit=2"), "{paged}");
    assert!(paged.contains(&format!(r#"href="/reports/{id}/rows.csv?kind=changed&#38;limit=2""#)), "{paged}");
    let (_, _, none) = get(&harness, &format!("{rows}?kind=only_in_baseline&column=email"), &cookie).await;
    assert!(none.contains("No differing rows match this filter."), "{none}");

    let (status, headers, csv) =
        get(&harness, &format!("/reports/{id}/rows.csv?kind=changed&column=name"), &cookie).await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    assert_eq!(headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(headers[header::CONTENT_DISPOSITION].to_str().unwrap().contains(&format!("report-{id}-rows.csv")));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "kind,changed_columns,baseline_id,baseline_email,baseline_name,candidate_id,candidate_email,candidate_name"
    );
    assert_eq!(lines[1], r#"changed,"[email, name]",2,b@x,"Bo, ""B""",2,b@y,Bob"#);
    assert_eq!(lines[2], "changed,[name],3,c@x,Cy,3,c@x,Cyd");
    assert_eq!(lines.len(), 3, "{csv}");

    let (status, headers, parquet) = get(&harness, &format!("/reports/{id}/export.parquet"), &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/vnd.apache.parquet");
    assert!(parquet.starts_with("PAR1"), "the export itself");
    let (_, _, report) = get(&harness, &format!("/reports/{id}"), &cookie).await;
    assert!(report.contains(&format!(r#"href="/reports/{id}/export.parquet" download"#)), "{report}");

    let unexported = stored_report(&harness, "dw.same").await;
    let (status, _, page) = get(&harness, &format!("/reports/{unexported}/rows.csv"), &cookie).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
}

#[tokio::test]
async fn a_tables_page_sums_up_its_differing_columns_and_operators_edit_and_admins_unregister_it() {
    let harness = Harness::start("").await;
    stored_report(&harness, "dw.changed").await;
    stored_report(&harness, "dw.changed").await;
    let (_, viewer) = sign_in(&harness, VIEWER).await;
    let (status, _, page) = get(&harness, "/tables/dw.changed", &[("cookie", &viewer)]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("<strong>amount</strong> <span class=\"hint\">in 2 reports, 2 mismatches</span>"), "{page}");
    assert!(!page.contains("<i>") && page.contains("in 2 reports, 4 mismatches"), "{page}");
    assert!(!page.contains("name=\"registration\"") && !page.contains("/delete"), "a viewer edits nothing");
    let edit = "registration=%7B%22key%22%3A%5B%22id%22%5D%2C%22owners%22%3A%5B%22new%40example.com%22%5D%7D";
    assert_eq!(
        post_form(&harness, "/tables/dw.changed", &viewer, "http://dqc.test", edit).await.0,
        StatusCode::FORBIDDEN
    );

    let (_, operator) = sign_in(&harness, OPERATOR).await;
    let (_, _, page) = get(&harness, "/tables/dw.changed", &[("cookie", &operator)]).await;
    assert!(page.contains("name=\"registration\"") && page.contains("owner@example.com") && !page.contains("/delete"));
    let foreign = post_form(&harness, "/tables/dw.changed", &operator, "http://chat.example", edit).await;
    assert_eq!(foreign.0, StatusCode::FORBIDDEN);
    let broken = "registration=%7B%22key%22%3A+42%7D";
    let (status, _, page) = post_form(&harness, "/tables/dw.changed", &operator, "http://dqc.test", broken).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(
        page.contains("invalid registration") && page.contains("{&#34;key&#34;: 42}")
            || page.contains("{&quot;key&quot;: 42}"),
        "the refused text is kept: {page}"
    );
    let (status, ..) = post_form(&harness, "/tables/dw.changed", &operator, "http://dqc.test", edit).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(harness.store.table("dw.changed").await.unwrap().unwrap().owners, ["new@example.com"]);
    let delete = post_form(&harness, "/tables/dw.changed/delete", &operator, "http://dqc.test", "confirm=1").await;
    assert_eq!(delete.0, StatusCode::FORBIDDEN, "operators do not unregister");

    let (_, admin) = sign_in(&harness, ADMIN).await;
    let unticked = post_form(&harness, "/tables/dw.changed/delete", &admin, "http://dqc.test", "").await;
    assert_eq!(unticked.0, StatusCode::UNPROCESSABLE_ENTITY, "the box says it is meant");
    assert!(harness.store.table("dw.changed").await.unwrap().is_some());
    let (status, headers, _) =
        post_form(&harness, "/tables/dw.changed/delete", &admin, "http://dqc.test", "confirm=1").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/tables");
    assert!(harness.store.table("dw.changed").await.unwrap().is_none());
}
