# How stages run their commands: on this machine (default) or through slurm.
#   LWASR_QUEUE=slurm bash run.sh        # or edit the lines below
# utils/local.sh and utils/slurm.sh take: [options] LOGFILE command [args...]
# cmd (data preparation, scoring) and gpu_cmd (training, decoding) are arrays: one word per element.
# shellcheck shell=bash disable=SC2034
if [ "${LWASR_QUEUE:-local}" = slurm ]; then
  cmd=(utils/slurm.sh --mem 32G --time 24:00:00)
  gpu_cmd=(utils/slurm.sh --gpu "${ngpu:-1}" --mem 64G --time 48:00:00)
else
  cmd=(utils/local.sh)
  gpu_cmd=(utils/local.sh)
fi
