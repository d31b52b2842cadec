/* qraftd: parse the configuration, run the node, exit with its status:
 * 0 after SIGTERM/SIGINT, 1 for bad flags, 2 if it could not start, 3 after
 * a fatal disk or store error. */
#include <stdio.h>

#include "node/node.h"

int main(int argc, char **argv)
{
    struct nodeConfig config;
    char errmsg[1024];
    int rv;

    rv = nodeConfigParse(&config, argc, argv, errmsg, sizeof errmsg);
    if (rv == 1) {
        return 0;
    }
    if (rv != 0) {
        fprintf(stderr, "qraftd: %s\n", errmsg);
        return 1;
    }
    nodeLogSetup(config.id, config.log_level);
    return nodeRun(&config);
}
