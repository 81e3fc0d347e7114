/* Bench records for people (a table like llama-bench's) and spreadsheets
 * (CSV, one header line and one line a record).  Only bench records: other
 * kinds have their own text form in records/record.h. */
#ifndef EXO_BENCH_OUTPUT_H
#define EXO_BENCH_OUTPUT_H
#include <jansson.h>
#include <stdio.h>

/* recs: an array of bench records; values shown in GB/s, GFLOP/s, t/s, us. */
void bench_table_print(FILE *f, const json_t *recs);
void bench_csv_header(FILE *f);
void bench_csv_row(FILE *f, const json_t *rec);
#endif
