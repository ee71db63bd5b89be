//! The live dashboard's files, built from `web/` and embedded in the binary.
//!
//! The build script (`build.rs`) runs `npm ci` (when `web/node_modules` is missing or older
//! than `package-lock.json`) and `npm run build` into this crate's build directory, then
//! embeds every file of the result, gzip-compressed, with a strong `ETag` (a hash of the
//! uncompressed bytes). So one `cargo build` gives one binary that serves the dashboard
//! offline, with nothing to install beside it. The server's routes decide how to answer
//! (`Content-Encoding`, `304`, caching); this crate only holds the bytes.
//!
//! Without Node.js the build stops with a message saying so. `SIGHTLINE_WEB_SKIP=1`
//! builds without the dashboard (the page then says how to get it), and
//! `SIGHTLINE_WEB_DIST=DIR` embeds an already built `dist` directory instead of running npm.

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// URL path, e.g. `/index.html` or `/assets/index-3f2a1b.js`.
    pub path: &'static str,
    pub content_type: &'static str,
    /// A strong validator, quoted as HTTP wants it.
    pub etag: &'static str,
    /// The file's bytes: gzip-compressed when `gzipped`, else as they are (images and
    /// fonts that compression would not shrink).
    pub body: &'static [u8],
    pub gzipped: bool,
    /// Vite puts a content hash in these names, so they never change and may be cached
    /// for good; `index.html` must be revalidated.
    pub immutable: bool,
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The embedded file at `path` (`/` is `/index.html`).
pub fn asset(path: &str) -> Option<&'static Asset> {
    let path = if path == "/" { "/index.html" } else { path };
    ASSETS.iter().find(|asset| asset.path == path)
}

/// Whether the dashboard was built into this binary (false with `SIGHTLINE_WEB_SKIP`).
pub fn dashboard_built() -> bool {
    DASHBOARD_BUILT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_page_is_embedded_and_names_only_embedded_assets() {
        let index = asset("/").expect("index.html is embedded");
        assert_eq!(index.content_type, "text/html; charset=utf-8");
        assert!(!index.immutable);
        assert!(index.etag.starts_with('"') && index.etag.ends_with('"'));
        if !dashboard_built() {
            eprintln!("SIGHTLINE_WEB_SKIP is set: only the placeholder page is embedded");
            return;
        }
        let html = gunzip_if(index);
        // Every script and stylesheet the page loads must be served from the binary:
        // a CDN reference would leave a wall TV without network blank.
        for reference in html
            .split(['"', '\''])
            .filter(|part| part.starts_with("/assets/"))
        {
            let embedded = asset(reference)
                .unwrap_or_else(|| panic!("index.html loads {reference}, which is not embedded"));
            assert!(embedded.immutable, "{reference} has a hashed name");
        }
        // (The inline SVG icon's `xmlns` names a URL but loads nothing.)
        for attribute in [
            "src=\"http",
            "href=\"http",
            "src='http",
            "href='http",
            "url(http",
        ] {
            assert!(
                !html.contains(attribute),
                "the page loads something from the network: {html}"
            );
        }
    }

    fn gunzip_if(asset: &Asset) -> String {
        if !asset.gzipped {
            return String::from_utf8_lossy(asset.body).into_owned();
        }
        // The test decodes with the same gzip framing a browser expects: member header,
        // deflate stream, CRC and size trailer.
        let text = decode_gzip(asset.body);
        String::from_utf8(text).expect("index.html is UTF-8")
    }

    fn decode_gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Read;
        let mut decoder = flate2::read::GzDecoder::new(bytes);
        let mut out = Vec::new();
        decoder.read_to_end(&mut out).expect("valid gzip");
        out
    }
}
