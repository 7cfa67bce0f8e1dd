/*
** mpi.h: `mpirun -np N misalign eval ...`, compiled only in MPI builds
** (ML_MPI: `make MPI=1`, or the default build when mpicc is present).  A
** build without it has no MPI launch at all; --shard I/N does the same split
** by hand.
**
** Rank r of N runs shard r of N (eval/run.h ml_eval_shards); the ranks meet
** at a few collective checkpoints, where the lowest failing rank reports and
** every rank stops; at the end rank 0 joins the segments and writes the summary.
**
**     if (ml_cli_mpi_launched()) {
**         int rank, size;
**         ml_cli_mpi_init(&argc, &argv, &rank, &size);
**         ...
**         int first = ml_cli_mpi_first_failure(rc != 0);  // -1: every rank is fine
**         ...
**         ml_cli_mpi_finalize();
**     }
*/
#ifndef ML_CLI_MPI_H
#define ML_CLI_MPI_H

#include <stddef.h>

/* 1 when an MPI launcher (mpirun, srun with PMIx) started this process. */
int ml_cli_mpi_launched(void);
int ml_cli_mpi_init(int *argc, char ***argv, int *rank, int *size);
/* Collective: the lowest rank that passed failed = 1, or -1 when none did. */
int ml_cli_mpi_first_failure(int failed);
/* Collective: rank 0's text (every rank passes its own; the caller frees the result). */
char *ml_cli_mpi_root_text(const char *text);
/* Ranks on this node (for splitting its cores); 1 when unknown. */
int ml_cli_mpi_local_size(void);
void ml_cli_mpi_finalize(void);

#endif
