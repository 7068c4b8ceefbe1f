//! The OpenAPI document of `/api`, assembled from the handlers' annotations.
//!
//! What every operation shares (its path parameters and Harbor's error
//! responses) is added here once instead of on each handler.

use super::model::{Error, Errors};
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::{
    ContentBuilder, ObjectBuilder, OpenApi, Ref, RefOr, Required, ResponseBuilder, Type,
};
use utoipa::OpenApi as _;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Berth",
        description = "Harbor's v2.0 REST API, as served by Berth.",
        license(name = "Apache-2.0")
    ),
    components(schemas(Errors, Error))
)]
struct Base;

/// The document before any route is added.
pub fn base() -> OpenApi {
    Base::openapi()
}

/// Errors any operation may answer with, and when.
const ERRORS: &[(&str, &str)] = &[
    ("400", "Bad request: invalid parameters or body"),
    ("401", "Unauthorized: credentials missing or wrong"),
    ("403", "Forbidden: the caller lacks the permission"),
    ("404", "Not found"),
    ("429", "Too many failed logins for this user"),
    ("500", "Internal error"),
];

/// Adds path parameters and Harbor's error responses to every operation.
pub fn finish(mut doc: OpenApi) -> OpenApi {
    for (path, item) in doc.paths.paths.iter_mut() {
        let params: Vec<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_string)
            .collect();
        let ops = [
            (&mut item.get, false),
            (&mut item.head, false),
            (&mut item.delete, false),
            (&mut item.post, true),
            (&mut item.put, true),
            (&mut item.patch, true),
        ];
        for (op, has_body) in ops {
            if let Some(op) = op.as_mut() {
                add_path_params(op, &params);
                add_errors(op, has_body);
            }
        }
    }
    doc
}

fn add_path_params(op: &mut Operation, names: &[String]) {
    let list = op.parameters.get_or_insert_with(Vec::new);
    for name in names {
        if list
            .iter()
            .any(|p| p.name == *name && p.parameter_in == ParameterIn::Path)
        {
            continue;
        }
        list.push(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build(),
        );
    }
}

fn add_errors(op: &mut Operation, has_body: bool) {
    let unsupported = ("415", "Unsupported media type: the body must be JSON");
    let extra = has_body.then_some(&unsupported);
    for (status, description) in ERRORS.iter().chain(extra) {
        op.responses
            .responses
            .entry((*status).to_string())
            .or_insert_with(|| {
                RefOr::T(
                    ResponseBuilder::new()
                        .description(*description)
                        .content(
                            "application/json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("Errors")))
                                .build(),
                        )
                        .build(),
                )
            });
    }
}
