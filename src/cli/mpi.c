/* mpi.c: the MPI launch of `misalign eval` (see mpi.h); built only with ML_MPI. */
#include "cli/mpi.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>

int ml_cli_mpi_launched(void) {
    /* OpenMPI's mpirun sets OMPI_COMM_WORLD_SIZE; Slurm's srun --mpi=pmix sets PMIX_RANK */
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

int ml_cli_mpi_init(int *argc, char ***argv, int *rank, int *size) {
    if (MPI_Init(argc, argv) != MPI_SUCCESS) return -1;
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    return 0;
}

int ml_cli_mpi_first_failure(int failed) {
    int size, rank, mine, first;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    mine = failed ? rank : size;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return first < size ? first : -1;
}

char *ml_cli_mpi_root_text(const char *text) {
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int len = (int)strlen(text) + 1;
    MPI_Bcast(&len, 1, MPI_INT, 0, MPI_COMM_WORLD);
    char *root = malloc((size_t)len);
    if (!root) MPI_Abort(MPI_COMM_WORLD, 1); /* a collective cannot go on without this rank */
    if (rank == 0) memcpy(root, text, (size_t)len);
    MPI_Bcast(root, len, MPI_CHAR, 0, MPI_COMM_WORLD);
    return root;
}

int ml_cli_mpi_local_size(void) {
    const char *s = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (!s) s = getenv("SLURM_NTASKS_PER_NODE");
    int n = s ? atoi(s) : 1;
    return n > 0 ? n : 1;
}

void ml_cli_mpi_finalize(void) { MPI_Finalize(); }
