# The example algorithm: a JSON summary of each input item. Replace summarise() with your own;
# keep the contract calls.
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(sub("^--file=", "", args[grep("^--file=", args)][1]))
source(file.path(here, "stacworks_task.R"))

summarise <- function(input, index, params) {
  item <- input$item
  name <- paste0(item$id, "_summary.json")
  summary <- list(id = item$id, assets = length(item$assets),
                  datetime = item$properties$datetime, note = params$note)
  write(toJSON(summary, auto_unbox = TRUE, null = "null"), file.path(task_output_dir(), name))
  cat(item$id, ": summary written\n", sep = "")
  list(path = name, asset = "summary", input = index - 1)
}

main <- function() {
  params <- task_parameters()
  if (is.null(params$note)) params$note <- ""
  inputs <- task_inputs()
  if (length(inputs) == 0) task_fail("no input items")
  outputs <- lapply(seq_along(inputs), function(i) summarise(inputs[[i]], i, params))
  task_write_outputs(outputs)
}

main()
