# The algorithm under the task contract, with a STAC item on disk as input.
library(jsonlite)
args <- commandArgs(trailingOnly = FALSE)
here <- normalizePath(file.path(dirname(sub("^--file=", "", args[grep("^--file=", args)][1])), ".."))
src <- if (file.exists(file.path(here, "src", "algorithm.R"))) file.path(here, "src") else here
tmp <- tempfile(); dir.create(tmp)
write('{"type": "Feature", "stac_version": "1.1.0", "id": "example", "links": [],
  "properties": {"datetime": "2024-06-01T10:00:00Z"}, "geometry": null,
  "assets": {"a": {"href": "a.tif"}}}', file.path(tmp, "item.json"))
Sys.setenv(STACWORKS_INPUT_ITEMS = toJSON(paste0("file://", file.path(tmp, "item.json"))),
           STACWORKS_OUTPUT_DIR = file.path(tmp, "out"),
           STACWORKS_PARAMETERS = '{"note": "test"}')
status <- system2("Rscript", file.path(src, "algorithm.R"))
stopifnot(status == 0)
outputs <- fromJSON(file.path(tmp, "out", "outputs.json"), simplifyVector = FALSE)$outputs
stopifnot(length(outputs) == 1, outputs[[1]]$path == "example_summary.json",
          outputs[[1]]$input == 0)
summary <- fromJSON(file.path(tmp, "out", "example_summary.json"))
stopifnot(summary$id == "example", summary$assets == 1, summary$note == "test")
Sys.setenv(STACWORKS_INPUT_ITEMS = "[]")
stopifnot(system2("Rscript", file.path(src, "algorithm.R"), stderr = FALSE) != 0)
cat("ok: 2 tests passed\n")
