# The stacworks task contract for R (needs jsonlite). source() it from your algorithm.
# Inputs come from STACWORKS_* variables; answer with files in task_output_dir() described by
# task_write_outputs(); quit(status = non-zero) fails the task.
library(jsonlite)

.task_json <- function(name, default) {
  value <- Sys.getenv(name, "")
  if (identical(value, "")) default else fromJSON(value, simplifyVector = FALSE)
}

# The input items: a list of list(url, item, assets), assets being paths GDAL opens.
task_inputs <- function() {
  urls <- .task_json("STACWORKS_INPUT_ITEMS", list())
  assets <- .task_json("STACWORKS_INPUT_ASSETS", list())
  lapply(seq_along(urls), function(i) {
    url <- urls[[i]]
    path <- if (startsWith(url, "file://")) URLdecode(sub("^file://", "", url)) else url
    item <- fromJSON(path, simplifyVector = FALSE)
    list(url = url, item = item, assets = if (i <= length(assets)) assets[[i]] else list())
  })
}

task_parameters <- function() .task_json("STACWORKS_PARAMETERS", list())

task_output_dir <- function() {
  dir <- Sys.getenv("STACWORKS_OUTPUT_DIR", "out")
  dir.create(dir, showWarnings = FALSE, recursive = TRUE)
  dir
}

# outputs: a list of list(path = , asset = , input = <0-based index>, ...).
task_write_outputs <- function(outputs) {
  write(toJSON(list(outputs = outputs), auto_unbox = TRUE, pretty = TRUE),
        file.path(task_output_dir(), "outputs.json"))
}

task_fail <- function(message, status = 2) {
  message("error: ", message)
  quit(save = "no", status = status)
}
